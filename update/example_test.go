package update_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/speakez/barewire/update"
)

// Example signs a one-slot release on the pipeline side, then on the
// device verifies and stages the bundle, starts it and activates it after
// a health check.
func Example() {
	work, err := os.MkdirTemp("", "update-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	// Release pipeline: keys, a component file, its manifest, a bundle.
	keys := filepath.Join(work, "keys")
	if err := update.Keygen(keys); err != nil {
		log.Fatal(err)
	}
	component := []byte("component bytes: a model file in the real world")
	sum := sha256.Sum256(component)
	hash := hex.EncodeToString(sum[:])
	src := filepath.Join(work, "head.bwm")
	if err := os.WriteFile(src, component, 0o644); err != nil {
		log.Fatal(err)
	}
	release := update.ReleaseManifest{
		Format: update.ManifestFormat, ID: "r1", Arch: "mlp",
		Slots: map[string]update.Component{"head": {
			SHA256: hash, Length: int64(len(component)),
			Tensors: []update.TensorShape{{Name: "head.weight", DType: "int8", Shape: []int64{10, 64}}},
		}},
	}
	bundle := filepath.Join(work, "r1.bwb")
	if err := update.BuildBundle(keys, release, map[string]string{hash: src}, 1, time.Now().Add(24*time.Hour), bundle); err != nil {
		log.Fatal(err)
	}

	// Device: the trust root was installed with the agent.
	root, err := os.ReadFile(filepath.Join(keys, update.RootName))
	if err != nil {
		log.Fatal(err)
	}
	store, err := update.Open(filepath.Join(work, "state"), update.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.Recover(); err != nil { // at every start
		log.Fatal(err)
	}
	m, err := store.ApplyBundle(bundle, root)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := store.BeginAttempt(); err != nil { // before mapping it
		log.Fatal(err)
	}
	err = store.Activate(func(*update.ReleaseManifest) error { return nil /* canary inference here */ })
	if err != nil {
		log.Fatal(err)
	}
	st, _ := store.State()
	fmt.Println("installed", m.ID, "current", st.Current, "targets version", st.Versions.Targets)
	// Output: installed r1 current r1 targets version 1
}
