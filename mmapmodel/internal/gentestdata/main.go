package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/speakez/barewire/mmapmodel/internal/testmodel"
)

func main() {
	out := flag.String("out", "testdata", "directory for the model files")
	corpus := flag.String("corpus", "", "directory for the fuzz seed corpus (testdata/fuzz), or empty")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "gentestdata:", err)
		os.Exit(1)
	}
	if err := testmodel.WriteAll(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gentestdata:", err)
		os.Exit(1)
	}
	if *corpus != "" {
		if err := testmodel.WriteCorpus(*corpus); err != nil {
			fmt.Fprintln(os.Stderr, "gentestdata:", err)
			os.Exit(1)
		}
	}
}
