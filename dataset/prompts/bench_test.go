package prompts

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkBuildPrompts builds 100,000 rows in the InstructGPT mix from
// 1,000,000 synthetic input records (qa, dialogue, pairs, summarization,
// classification, squad and cluener layouts) and reports input records per
// second and the peak resident set size of the process. Run it once:
//
//	go test ./dataset/prompts -run '^$' -bench BuildPrompts -benchtime 1x
func BenchmarkBuildPrompts(b *testing.B) {
	dir := b.TempDir()
	specs := synth(b, dir, 400_000) // 400k qa + 6 × 100k others
	runtime.GC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		rep := run(b, Options{Sources: specs, Total: 100_000, Out: filepath.Join(dir, "out"), ValFrac: 0.02})
		el := time.Since(start)
		var records int64
		for _, s := range rep.Sources {
			records += s.Records
		}
		if rep.Rows != 100_000 {
			b.Fatalf("rows %d; notes %v", rep.Rows, rep.Notes)
		}
		b.ReportMetric(float64(records)/el.Seconds(), "records/s")
		b.ReportMetric(float64(records), "records")
	}
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

// peakRSSMiB reads VmHWM (the peak resident set size) from /proc.
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}
