package config_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kiln-build/kiln/firstboot/config"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestValidGolden parses every document under testdata/valid and compares
// the result, defaults filled, with the .golden YAML next to it. The golden
// output must itself parse to the same value (YAML and JSON round trips).
func TestValidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range files {
		if strings.HasSuffix(in, ".golden") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := config.MarshalYAML(cfg)
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(in, filepath.Ext(in)) + ".golden"
			compareGolden(t, golden, got)

			again, err := config.Parse(got)
			if err != nil {
				t.Fatalf("Parse(MarshalYAML(cfg)): %v", err)
			}
			if b, _ := config.MarshalYAML(again); !bytes.Equal(b, got) {
				t.Errorf("YAML round trip changed the document:\n%s", b)
			}
			js, err := config.MarshalJSON(cfg)
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, err := config.Parse(js)
			if err != nil {
				t.Fatalf("Parse(MarshalJSON(cfg)): %v", err)
			}
			if b, _ := config.MarshalYAML(fromJSON); !bytes.Equal(b, got) {
				t.Errorf("JSON round trip changed the document:\n%s", b)
			}
		})
	}
	if n < 4 {
		t.Fatalf("only %d valid documents found", n)
	}
}

// TestInvalidGolden parses every document under testdata/invalid; each has
// mistakes and its .err file holds the exact error text Parse must give.
func TestInvalidGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.*")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, in := range files {
		if strings.HasSuffix(in, ".err") {
			continue
		}
		n++
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse(data)
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", cfg)
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error: %v", err, err)
			}
			for _, e := range config.Errors(err) {
				if e.Msg == "" {
					t.Errorf("error with no message: %+v", e)
				}
			}
			compareGolden(t, strings.TrimSuffix(in, filepath.Ext(in))+".err", []byte(err.Error()+"\n"))
		})
	}
	if n < 20 {
		t.Fatalf("only %d invalid documents found", n)
	}
}

func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
