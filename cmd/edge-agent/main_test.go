package main

import (
	"bytes"
	"sort"
	"strings"
	"testing"
)

// An unknown flag is a usage error for every command: exit status 2 and
// the flag named, as the README promises.
func TestUnknownFlagIsUsageError(t *testing.T) {
	var cmds [][]string
	for name := range commands {
		if name == "bench" {
			cmds = append(cmds, []string{"bench", "kernels"}, []string{"bench", "model"})
			continue
		}
		cmds = append(cmds, []string{name})
	}
	sort.Slice(cmds, func(i, j int) bool { return strings.Join(cmds[i], " ") < strings.Join(cmds[j], " ") })
	if len(cmds) < 10 {
		t.Fatalf("only %d commands registered", len(cmds))
	}
	for _, c := range cmds {
		var out, errb bytes.Buffer
		code := run(append(c, "--no-such-flag"), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "no-such-flag") {
			t.Errorf("%v --no-such-flag: exit %d, stderr %q; want exit 2 naming the flag", c, code, errb.String())
		}
	}
}
