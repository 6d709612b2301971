package plan

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rlhf-project/rlhf/model"
	"github.com/rlhf-project/rlhf/option"
)

// LoadConfig reads a model's config from path: a model folder (or hub id),
// a LoRA adapter folder (its base model's config), or a config.json file.
func LoadConfig(path string) (*model.Config, error) {
	if st, err := os.Stat(path); err == nil && !st.IsDir() {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return model.ParseConfig(data, path)
	}
	if model.IsAdapterDir(path) {
		base, err := model.AdapterBase(path, "")
		if err != nil {
			return nil, err
		}
		path = base
	}
	return model.LoadConfig(path)
}

// CommandOptions are `rlhf plan`'s options: model paths instead of
// configs, flags' spellings for LoRA targets and devices.
type CommandOptions struct {
	Options
	// PolicyPath, RewardPath and CriticPath are model folders, adapter
	// folders or config.json files.
	PolicyPath, RewardPath, CriticPath string
	// LoRATargets and CriticLoRATargets are comma-separated PEFT module
	// names or all-linear.
	LoRATargets, CriticLoRATargets string
	// DeviceMemory lists the devices: sizes or GPU names ("40GiB,40GiB",
	// "A100-80G", "2xA100-40G").
	DeviceMemory string
}

// Resolve loads the configs and parses the devices and targets of o into
// o.Options; flags names the flags in errors (policy, reward, critic,
// device memory).
func (o *CommandOptions) Resolve(policyFlag string) error {
	var err error
	if o.PolicyPath == "" {
		return fmt.Errorf("%s is required", policyFlag)
	}
	if o.Policy, err = LoadConfig(o.PolicyPath); err != nil {
		return fmt.Errorf("%s: %w", policyFlag, err)
	}
	if o.RewardPath != "" {
		if o.Reward, err = LoadConfig(o.RewardPath); err != nil {
			return option.Errorf("{RewardPath}: %w", err)
		}
	}
	if o.CriticPath != "" {
		if o.Critic, err = LoadConfig(o.CriticPath); err != nil {
			return option.Errorf("{CriticPath}: %w", err)
		}
	}
	if o.Step == StepPPO && o.Reward == nil {
		return option.Errorf("{RewardPath} is required for {Step} ppo (the reward model's folder or config.json)")
	}
	o.LoRA.Targets = splitList(o.LoRATargets)
	o.CriticLoRA.Targets = splitList(o.CriticLoRATargets)
	if o.DeviceMemory != "" {
		if o.Devices, err = ParseDevices(o.DeviceMemory, option.Field("DeviceMemory")); err != nil {
			return err
		}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// Report prints the estimate of o and, when it does not fit, the settings
// that make it fit (Suggest) and the table with them. It returns the
// estimate of o and whether it fits.
func Report(w io.Writer, o Options) (*Estimate, bool, error) {
	e, err := EstimateRun(o)
	if err != nil {
		return nil, false, err
	}
	fmt.Fprintf(w, "rlhf %s: estimated memory per device\n\n", e.Options.stepName())
	if err := e.WriteTable(w); err != nil {
		return nil, false, err
	}
	if len(o.Devices) == 0 {
		fmt.Fprintln(w, "\ndevice memory unknown: give --device-memory (e.g. 40GiB or A100-40G) to check the fit")
		return e, true, nil
	}
	if e.Fits() {
		fmt.Fprintln(w, "\nfits.")
		return e, true, nil
	}
	s, ok, err := Suggest(o)
	if err != nil {
		return e, false, err
	}
	if len(s) == 0 {
		fmt.Fprintln(w, "\ndoes not fit, and no setting this plan knows makes it fit: use more or larger devices")
		return e, false, nil
	}
	fmt.Fprintln(w, "\ndoes not fit. Settings that make it fit, least effect on training first (each added to those above):")
	for _, x := range s {
		totals := make([]string, len(x.Estimate.Devices))
		for i, d := range x.Estimate.Devices {
			totals[i] = GiB(d.Total())
		}
		fmt.Fprintf(w, "  + %-48s %-58s → %s\n", x.Change, x.Flags, strings.Join(totals, ", "))
	}
	last := s[len(s)-1].Estimate
	if !ok {
		fmt.Fprintln(w, "\neven with all of these it does not fit: use more or larger devices. With them:")
	} else {
		fmt.Fprintln(w, "\nwith them:")
	}
	fmt.Fprintln(w)
	return e, false, last.WriteTable(w)
}

func (o Options) stepName() string {
	if o.Step == StepPPO && o.Algo != "" && o.Algo != "ppo" {
		return "ppo --algo " + o.Algo
	}
	return o.Step
}
