package safetensors

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestHalfConversionsExact(t *testing.T) {
	// Every finite half value decodes to float32 and encodes back to itself.
	for h := 0; h < 1<<16; h++ {
		v := f16ToF32(uint16(h))
		if v != v {
			continue
		}
		if back := f32ToF16(v); back != uint16(h) {
			t.Fatalf("f16 %#04x -> %v -> %#04x", h, v, back)
		}
		bf := math.Float32frombits(uint32(h) << 16)
		if bf != bf {
			continue
		}
		if back := f32ToBF16(bf); back != uint16(h) {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", h, bf, back)
		}
	}
	if got := f16ToF32(0x3C00); got != 1 {
		t.Fatalf("f16 1.0 decodes to %v", got)
	}
	if got := f32ToBF16(1.00390625); got != 0x3F80 { // tie rounds to even
		t.Fatalf("bf16 rounding: %#04x", got)
	}
}

func sample(t *testing.T) map[string]Tensor {
	a, err := FromFloat32(F32, []int{2, 3}, []float32{1, -2, 3.5, 0, 1e-8, 7})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := FromFloat32(BF16, []int{4}, []float32{1, 2, 3, -0.5})
	c, _ := FromFloat32(F16, []int{1, 2}, []float32{0.25, 65504})
	return map[string]Tensor{"a.weight": a, "b.bias": b, "c": c}
}

func TestRoundTripSingleAndSharded(t *testing.T) {
	for _, shard := range []int64{0, 20} {
		dir := t.TempDir()
		in := sample(t)
		if err := WriteDir(dir, in, shard); err != nil {
			t.Fatal(err)
		}
		_, idxErr := os.Stat(filepath.Join(dir, IndexFile))
		if (shard > 0) != (idxErr == nil) {
			t.Fatalf("shard=%d: index present = %v", shard, idxErr == nil)
		}
		out, err := ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != len(in) {
			t.Fatalf("read %d tensors, wrote %d", len(out), len(in))
		}
		for n, want := range in {
			got := out[n]
			if got.DType != want.DType || !bytes.Equal(got.Data, want.Data) || len(got.Shape) != len(want.Shape) {
				t.Fatalf("tensor %s differs after round trip: %+v vs %+v", n, got, want)
			}
		}
		f, _ := out["b.bias"].Float32()
		if f[3] != -0.5 {
			t.Fatalf("bf16 decode: %v", f)
		}
	}
}

func TestCorruptFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.safetensors")
	os.WriteFile(p, []byte{200, 0, 0, 0, 0, 0, 0, 0, '{'}, 0o644)
	if _, _, err := ReadFile(p); err == nil {
		t.Fatal("corrupt file accepted")
	}
}

// TestReadDirHeaders: the headers alone give every tensor's dtype and
// shape, for single and sharded checkpoints, and are checked as ReadDir
// checks them.
func TestReadDirHeaders(t *testing.T) {
	for _, shard := range []int64{0, 20} {
		dir := t.TempDir()
		in := sample(t)
		if err := WriteDir(dir, in, shard); err != nil {
			t.Fatal(err)
		}
		infos, err := ReadDirHeaders(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(infos) != len(in) {
			t.Fatalf("shard=%d: %d headers, wrote %d tensors", shard, len(infos), len(in))
		}
		for n, want := range in {
			got := infos[n]
			if got.DType != want.DType || !reflect.DeepEqual(got.Shape, want.Shape) || got.NumElements() != want.NumElements() {
				t.Fatalf("shard=%d: %s: header %+v, tensor %s %v", shard, n, got, want.DType, want.Shape)
			}
		}
	}
	if _, err := ReadDirHeaders(t.TempDir()); err == nil || !strings.Contains(err.Error(), SingleFile) {
		t.Errorf("empty folder: %v", err)
	}
}
