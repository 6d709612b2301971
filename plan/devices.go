package plan

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/rlhf-project/rlhf/option"
)

// GPUs maps GPU names (upper case) to their memory in bytes, as
// nvidia-smi reports it.
var GPUs = map[string]int64{
	"A100-40G": 40 << 30, "A100-80G": 80 << 30, "A100": 80 << 30,
	"H100": 80 << 30, "H100-80G": 80 << 30, "H100-94G": 94 << 30,
	"H200": 140 << 30, "L4": 24 << 30, "A10": 24 << 30, "A10G": 24 << 30,
	"L40S": 48 << 30, "A6000": 48 << 30, "V100-16G": 16 << 30, "V100-32G": 32 << 30,
	"T4": 15 << 30, "RTX4090": 24 << 30, "RTX3090": 24 << 30,
}

// ParseDevices reads a device list: sizes or GPU names separated by
// commas ("40GiB,40GiB", "A100-80G", "2xA100-40G", "24GB"). Units: B, KB,
// MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB and K, M, G, T (powers of
// 1024). what names s in errors (an option.Field, or words).
func ParseDevices(s string, what any) ([]int64, error) {
	var out []int64
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n := 1
		if i := strings.IndexAny(f, "xX×"); i > 0 {
			if k, err := strconv.Atoi(f[:i]); err == nil && k > 0 {
				n, f = k, strings.TrimPrefix(f[i:], f[i:i+1])
				f = strings.TrimPrefix(f, "×")
			}
		}
		b, err := parseSize(f)
		if err != nil {
			return nil, option.Errorf("%s %q: %w", what, s, err)
		}
		for range n {
			out = append(out, b)
		}
	}
	return out, nil
}

func parseSize(f string) (int64, error) {
	if b, ok := GPUs[strings.ToUpper(f)]; ok {
		return b, nil
	}
	u := strings.ToUpper(f)
	i := strings.IndexFunc(u, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return 0, fmt.Errorf("%q is neither a size (40GiB, 80GB) nor a GPU name (%s)", f, gpuNames())
	}
	v, err := strconv.ParseFloat(u[:i], 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q: want a positive size", f)
	}
	mult := map[string]float64{
		"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
		"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
	}[strings.TrimSpace(u[i:])]
	if mult == 0 {
		return 0, fmt.Errorf("%q: unknown unit %q (want B, KB, MB, GB, KiB, MiB, GiB or a GPU name: %s)", f, u[i:], gpuNames())
	}
	return int64(v * mult), nil
}

func gpuNames() string {
	names := make([]string, 0, len(GPUs))
	for n := range GPUs {
		names = append(names, n)
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

// GiB formats bytes in GiB, or MiB below 1 GiB.
func GiB(b int64) string {
	if b != 0 && b < 1<<30 {
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
	return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
}

// ParseNvidiaSMI reads the output of `nvidia-smi
// --query-gpu=index,memory.total --format=csv,noheader,nounits` (one "index,
// MiB" line per GPU) and returns the memory of the GPUs visible lists (a
// CUDA_VISIBLE_DEVICES value of indices; "" for all), in its order.
func ParseNvidiaSMI(out, visible string) ([]int64, error) {
	byIndex := map[string]int64{}
	var all []int64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) != 2 {
			return nil, fmt.Errorf("nvidia-smi: unexpected line %q (want index, memory.total in MiB)", line)
		}
		mib, err := strconv.ParseInt(strings.TrimSpace(f[1]), 10, 64)
		if err != nil || mib <= 0 {
			return nil, fmt.Errorf("nvidia-smi: unexpected memory.total %q", f[1])
		}
		byIndex[strings.TrimSpace(f[0])] = mib << 20
		all = append(all, mib<<20)
	}
	if strings.TrimSpace(visible) == "" {
		return all, nil
	}
	var out2 []int64
	for _, v := range strings.Split(visible, ",") {
		b, ok := byIndex[strings.TrimSpace(v)]
		if !ok {
			return nil, fmt.Errorf("CUDA_VISIBLE_DEVICES=%s: GPU %q is not one nvidia-smi lists (or not an index)", visible, v)
		}
		out2 = append(out2, b)
	}
	return out2, nil
}

// QueryCUDAMemory asks nvidia-smi for the memory of the GPUs the xla:cuda
// backend sees (CUDA_VISIBLE_DEVICES respected when it lists indices).
func QueryCUDAMemory() ([]int64, error) {
	out, err := exec.Command("nvidia-smi", "--query-gpu=index,memory.total", "--format=csv,noheader,nounits").Output()
	if err != nil {
		return nil, fmt.Errorf("nvidia-smi: %w", err)
	}
	return ParseNvidiaSMI(string(out), os.Getenv("CUDA_VISIBLE_DEVICES"))
}
