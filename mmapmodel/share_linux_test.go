//go:build linux

package mmapmodel_test

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/speakez/barewire/mmapmodel"
)

// smaps sums the /proc/self/smaps fields (in kB) of every mapping of path.
func smaps(path string) (map[string]int, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int{}
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = strings.HasSuffix(line, " "+path)
			if in {
				out["mappings"]++
			}
			continue
		}
		if in && len(fields) == 3 && fields[2] == "kB" {
			n, _ := strconv.Atoi(fields[1])
			out[strings.TrimSuffix(fields[0], ":")] += n
		}
	}
	return out, sc.Err()
}

// mapAndTouch opens the model and reads every byte of every tensor
// through a view; it returns the model (still open) and a checksum.
func mapAndTouch(path string) (*mmapmodel.Model, byte, error) {
	m, err := mmapmodel.Open(path)
	if err != nil {
		return nil, 0, err
	}
	var sum byte
	for _, tn := range m.Tensors() {
		v, err := mmapmodel.NewView[uint8](tn)
		if err != nil {
			m.Close()
			return nil, 0, err
		}
		for _, c := range v.Data() {
			sum += c
		}
		v.Release()
	}
	return m, sum, nil
}

const shareChildEnv = "MMAPMODEL_SHARE_CHILD"

// TestPageSharing maps the shipped model in this process and in a child
// (this test binary re-executed), reads every tensor in both, and checks
// in /proc/self/smaps that the pages are shared and none was copied: two
// processes serving one model pay for its pages once. A copy-on-write
// copy of a file page shows as Anonymous; Shared_Dirty is not a copy (a
// file written moments ago still has dirty page-cache pages until
// writeback), so shared pages are Shared_Clean plus Shared_Dirty.
func TestPageSharing(t *testing.T) {
	if p := os.Getenv(shareChildEnv); p != "" {
		shareChild(p)
		return
	}
	if _, err := os.Stat("/proc/self/smaps"); err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	path, err := filepath.Abs(shippedFile)
	if err != nil {
		t.Fatal(err)
	}
	m, sum, err := mapAndTouch(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	before, _ := smaps(path)

	cmd := exec.Command(os.Args[0], "-test.run=^TestPageSharing$")
	cmd.Env = append(os.Environ(), shareChildEnv+"="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	var c struct{ sum, rss, shared, private, anon int }
	if _, err := fmt.Sscanf(line, "SHARE sum=%d rss=%d shared=%d private=%d anonymous=%d",
		&c.sum, &c.rss, &c.shared, &c.private, &c.anon); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	after, err := smaps(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("parent before child: %v", before)
	t.Logf("parent with child:   %v", after)
	t.Logf("child: Rss=%d kB Shared=%d kB Private=%d kB Anonymous=%d kB", c.rss, c.shared, c.private, c.anon)
	if byte(c.sum) != sum {
		t.Fatalf("child read checksum %d, parent %d", c.sum, sum)
	}
	if after["mappings"] == 0 || after["Rss"] == 0 {
		t.Fatalf("no resident mapping of %s in smaps: %v", path, after)
	}
	if shared := after["Shared_Clean"] + after["Shared_Dirty"]; shared == 0 || c.shared == 0 {
		t.Fatalf("pages not shared: parent %v, child shared %d kB", after, c.shared)
	}
	if after["Anonymous"] != 0 || c.anon != 0 {
		t.Fatalf("copied pages (Anonymous): parent %d kB, child %d kB", after["Anonymous"], c.anon)
	}
}

func shareChild(path string) {
	m, sum, err := mapAndTouch(path)
	if err != nil {
		fmt.Println("SHARE error", err)
		os.Exit(1)
	}
	s, _ := smaps(path)
	fmt.Printf("SHARE sum=%d rss=%d shared=%d private=%d anonymous=%d\n",
		sum, s["Rss"], s["Shared_Clean"]+s["Shared_Dirty"], s["Private_Clean"]+s["Private_Dirty"], s["Anonymous"])
	io.Copy(io.Discard, os.Stdin) // hold the mapping until the parent has looked
	m.Close()
	os.Exit(0)
}

// TestOpenTouchesOnlyTheHeader: after Open of a 256 MiB model, the
// process has faulted in only a few pages of the mapping (the preamble
// and header, plus the kernel's fault-around), not the data.
func TestOpenTouchesOnlyTheHeader(t *testing.T) {
	if _, err := os.Stat("/proc/self/smaps"); err != nil {
		t.Skip("no /proc/self/smaps:", err)
	}
	p, err := filepath.Abs(zeroModel(t, 256<<20))
	if err != nil {
		t.Fatal(err)
	}
	m := mustOpen(t, p)
	s, err := smaps(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after Open of %d MiB: Size=%d kB Rss=%d kB", m.Files()[0].Size>>20, s["Size"], s["Rss"])
	if s["Size"] < 256<<10 || s["Rss"] > 128 {
		t.Fatalf("Open made %d kB of the %d kB mapping resident", s["Rss"], s["Size"])
	}
}
