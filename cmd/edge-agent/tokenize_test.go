package main

import (
	"os"
	"strings"
	"testing"

	"github.com/speakez/barewire/sdk"
)

func TestTokenize(t *testing.T) {
	model := tinyModel(t, sdk.SyntheticMMFreeTiny)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tokenize", "--model", model, "hi"}, "104 105\n"},
		{[]string{"tokenize", "--model", model, "--bos", "hi"}, "256 104 105\n"},
		{[]string{"tokenize", "hi", "--model", model, "--json"}, `{"ids":[104,105],"pieces":["h","i"]}` + "\n"},
	} {
		code, out, errs := runCmd(t, c.args...)
		if code != 0 || out != c.want {
			t.Errorf("%v: exit %d, out %q (%s), want %q", c.args, code, out, errs, c.want)
		}
	}
	stdin = strings.NewReader("é")
	defer func() { stdin = os.Stdin }()
	if code, out, _ := runCmd(t, "tokenize", "--model", model, "-"); code != 0 || out != "195 169\n" {
		t.Fatalf("stdin: %d %q", code, out)
	}
	if code, _, errs := runCmd(t, "tokenize", "--model", model); code != 2 || !strings.Contains(errs, "want exactly one TEXT") {
		t.Fatalf("no text: %d %q", code, errs)
	}
}
