package disk

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestPlanIsDerivedFromSeed(t *testing.T) {
	opts := Options{Size: 4 << 30, Seed: "sha256:abc", Time: time.Unix(1700000000, 0)}
	a, err := Plan(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Plan(opts)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("Plan is not deterministic:\n%+v\n%+v", a, b)
	}
	opts.Seed = "sha256:abd"
	c, _ := Plan(opts)
	if a.DiskGUID == c.DiskGUID || a.Root.UUID == c.Root.UUID || a.ESP.VolumeID == c.ESP.VolumeID || a.Partitions[2].GUID == c.Partitions[2].GUID {
		t.Fatalf("different seeds gave shared identifiers:\n%+v\n%+v", a, c)
	}
	ids := map[string]bool{}
	for _, id := range []string{a.DiskGUID, a.Partitions[0].GUID, a.Partitions[1].GUID, a.Partitions[2].GUID, strings.ToUpper(a.Root.UUID), strings.ToUpper(a.Root.HashSeed)} {
		if ids[id] {
			t.Errorf("identifier %s used twice", id)
		}
		ids[id] = true
		if len(id) != 36 || id[14] != '8' || !strings.ContainsAny(id[19:20], "89AB") {
			t.Errorf("%s is not an RFC 9562 version 8 UUID", id)
		}
	}
}

func TestPlanGeometry(t *testing.T) {
	l, err := Plan(Options{Size: 4 << 30, Seed: "s", Time: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		first, last uint64
		typ         string
	}{
		{2048, 4095, TypeBIOSBoot},
		{4096, 4096 + 200*2048 - 1, TypeESP},
		{4096 + 200*2048, 4<<30/512 - 2048 - 1, TypeRootX86},
	}
	for i, w := range want {
		p := l.Partitions[i]
		if p.FirstLBA != w.first || p.LastLBA != w.last || p.Type != w.typ || p.Number != i+1 {
			t.Errorf("partition %d = %+v, want first %d last %d type %s", i+1, p, w.first, w.last, w.typ)
		}
		if p.FirstLBA%2048 != 0 || (p.LastLBA+1)%2048 != 0 {
			t.Errorf("partition %d (%d-%d) is not 1 MiB aligned", i+1, p.FirstLBA, p.LastLBA)
		}
	}
	if l.Root.Compat != CompatEL8 || l.Root.Label != "root" || l.ESP.Label != "ESP" {
		t.Errorf("defaults: %+v %+v", l.Root, l.ESP)
	}
	if got := (ESPFS{VolumeID: 0x1A2B3C4D}).UUID(); got != "1A2B-3C4D" {
		t.Errorf("ESP UUID = %q", got)
	}
}

func TestPlanRejects(t *testing.T) {
	epoch := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Size: 1 << 30, Time: epoch}, "seed is empty"},
		{Options{Size: 1 << 30, Seed: "s"}, "want SOURCE_DATE_EPOCH"},
		{Options{Size: 1<<30 + 512, Seed: "s", Time: epoch}, "multiple of 1 MiB"},
		{Options{Size: 200 << 20, Seed: "s", Time: epoch}, "less than 64 MiB for the root"},
		{Options{Size: 1 << 30, Seed: "s", Time: epoch, ESPSize: 3<<20 + 1}, "esp size"},
		{Options{Size: 1 << 30, Seed: "s", Time: epoch, Compat: "el6"}, `compat "el6" is unknown`},
		{Options{Size: 3 << 40, Seed: "s", Time: epoch}, "2 TiB"},
		{Options{Size: 1 << 30, Seed: "s", Time: epoch, RootLabel: "a-label-that-is-too-long"}, "16 bytes"},
	} {
		if _, err := Plan(tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Plan(%+v) = %v, want error containing %q", tc.opts, err, tc.want)
		}
	}
}
