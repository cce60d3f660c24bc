//go:build !amd64

// Command peak measures amd64 instruction rates; it does nothing elsewhere.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "peak: amd64 only")
	os.Exit(2)
}
