package qemuopt

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	o, err := Parse("tap,id=n0,ifname=tap0,sndbuf=64k,vhost", "type")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"type": "tap", "id": "n0", "ifname": "tap0", "sndbuf": "64k", "vhost": "on"}
	if !reflect.DeepEqual(o.Values, want) {
		t.Fatalf("Values = %v", o.Values)
	}
	if !reflect.DeepEqual(o.Keys, []string{"type", "id", "ifname", "sndbuf", "vhost"}) {
		t.Fatalf("Keys = %v", o.Keys)
	}
	o, _ = Parse("file=a,,b.img,if=virtio", "")
	if v, _ := o.Get("file"); v != "a,b.img" {
		t.Fatalf("escaped comma: %q", v)
	}
	for _, bad := range []string{"id=a,id=b", "=x", "tap,=1"} {
		if _, err := Parse(bad, "type"); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
	if err := o.Only("file"); err == nil || !strings.Contains(err.Error(), `"if"`) {
		t.Fatalf("Only = %v", err)
	}
}

func TestSize(t *testing.T) {
	for _, c := range []struct {
		s    string
		want uint64
		ok   bool
	}{
		{"256", 256 << 20, true},
		{"256M", 256 << 20, true},
		{"1G", 1 << 30, true},
		{"1g", 1 << 30, true},
		{"64k", 64 << 10, true},
		{"1.5G", 3 << 29, true},
		{"4096B", 4096, true},
		{"", 0, false},
		{"abc", 0, false},
		{"-1", 0, false},
		{"M", 0, false},
		{"99999999999999999999", 0, false},
		{"16777216T", 0, false},
	} {
		got, err := Size(c.s, 1<<20)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Size(%q) = %d, %v; want %d ok=%v", c.s, got, err, c.want, c.ok)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("tap,id=n0,,x,ifname=tap0")
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(s, "type")
		if err == nil && len(o.Keys) != len(o.Values) {
			t.Fatalf("keys %v values %v", o.Keys, o.Values)
		}
		Size(s, 1)
	})
}
