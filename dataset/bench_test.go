package dataset

import (
	"io"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// benchRows is the size of the write/read benchmark: 1,000,000 sft rows of
// about 300 Chinese characters each (the target: > 200k rows/s
// write, > 500k rows/s read, peak RSS under 300 MB).
const benchRows = 1_000_000

// chineseTexts returns n pseudo-random texts of about chars characters drawn
// from common CJK characters, so they compress like real text rather than
// like repeats.
func chineseTexts(n, chars int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 1))
	common := []rune("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研")
	out := make([]string, n)
	var b strings.Builder
	for i := range out {
		b.Reset()
		for j := range chars {
			if j > 0 && j%25 == 0 {
				b.WriteRune('，')
			}
			b.WriteRune(common[rng.IntN(len(common))])
		}
		b.WriteRune('。')
		out[i] = b.String()
	}
	return out
}

func peakRSSMB() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024 // Linux reports KiB
}

// BenchmarkSFTWriteRead writes benchRows sft rows across shards and reads
// them back, reporting rows/s for each direction and the peak RSS of the
// process. Run with -benchtime 1x.
func BenchmarkSFTWriteRead(b *testing.B) {
	texts := chineseTexts(4096, 300, 1)
	prompts := chineseTexts(512, 40, 2)
	for range b.N {
		dir := filepath.Join(b.TempDir(), "sft")
		start := time.Now()
		w, err := Create[SFT](dir, WriterOptions{})
		if err != nil {
			b.Fatal(err)
		}
		batch := make([]SFT, 0, 1000)
		for i := range benchRows {
			batch = append(batch, SFT{
				ID: strconv.FormatUint(1<<60|uint64(i), 16), Task: Tasks[i%len(Tasks)], Lang: "zh",
				Prompt: prompts[i%len(prompts)], Response: texts[(i*7)%len(texts)], Source: "bench", Template: "t",
			})
			if len(batch) == cap(batch) {
				if err := w.Write(batch...); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
		write := time.Since(start)
		writeRSS := peakRSSMB()
		m, err := ReadManifest(dir)
		if err != nil {
			b.Fatal(err)
		}
		var bytes int64
		for _, s := range m.Shards {
			bytes += s.Bytes
		}

		start = time.Now()
		r, err := Open[SFT](dir)
		if err != nil {
			b.Fatal(err)
		}
		var n, chars int
		for {
			row, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
			chars += len(row.Response)
		}
		r.Close()
		read := time.Since(start)
		if n != benchRows || chars == 0 {
			b.Fatalf("read %d rows, want %d", n, benchRows)
		}
		b.ReportMetric(float64(benchRows)/write.Seconds(), "write-rows/s")
		b.ReportMetric(float64(benchRows)/read.Seconds(), "read-rows/s")
		b.ReportMetric(writeRSS, "write-peak-RSS-MB")
		b.ReportMetric(peakRSSMB(), "peak-RSS-MB")
		b.ReportMetric(float64(bytes)/float64(benchRows), "bytes/row")
	}
}
