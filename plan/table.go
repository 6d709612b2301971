package plan

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

func sortStrings(s []string) { slices.Sort(s) }

// WriteTable prints the estimate: the models (parameters, trained
// parameters, dtype, device), then memory per device by component, the
// total against the device's memory and whether it fits.
func (e *Estimate) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tparams\ttrained\tfrozen dtype\tdevice\t")
	for _, m := range e.Models {
		frozen := m.DType
		if m.Trainable == m.Params {
			frozen = "-"
		}
		if m.Shared {
			frozen = "actor's base"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t\n", m.Role, count(m.Params), count(m.Trainable), frozen, m.Device)
	}
	fmt.Fprintln(tw)
	head := []string{"component"}
	for i := range e.Devices {
		head = append(head, fmt.Sprintf("device %d", i))
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	row := func(name string, f func(Device) string) {
		cells := []string{name}
		for _, d := range e.Devices {
			cells = append(cells, f(d))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	row("models", func(d Device) string { return strings.Join(d.Models, "+") })
	row("weights", func(d Device) string { return GiB(d.Weights) })
	row("gradients", func(d Device) string { return GiB(d.Gradients) })
	row("optimizer state", func(d Device) string { return GiB(d.Optimizer) })
	row("activations (training)", func(d Device) string { return GiB(d.Activations) })
	row("KV cache+scoring (rollout)", func(d Device) string { return GiB(d.KVCache) })
	row("runtime", func(d Device) string { return GiB(d.Runtime) })
	row("total (peak)", func(d Device) string { return GiB(d.Total()) })
	row("device memory", func(d Device) string {
		if d.Memory == 0 {
			return "?"
		}
		return GiB(d.Memory)
	})
	row("fits", func(d Device) string {
		switch {
		case d.Memory == 0:
			return "?"
		case d.Fits():
			return "yes"
		}
		return "NO"
	})
	return tw.Flush()
}

// count formats a parameter count: 124.4M, 1.3B.
func count(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
