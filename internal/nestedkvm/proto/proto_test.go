package proto

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestFormatParse(t *testing.T) {
	line := Format("n1", KindEnd, "a.test", "status=0", "elapsed=1.5s")
	if line != "=== HARNESS n1 END a.test status=0 elapsed=1.5s" {
		t.Errorf("Format = %q", line)
	}
	for _, in := range []string{line, "kernel noise" + line, line + "\r"} {
		m, ok := Parse("n1", in)
		if !ok || m.Kind != KindEnd || !reflect.DeepEqual(m.Args, []string{"a.test", "status=0", "elapsed=1.5s"}) {
			t.Errorf("Parse(%q) = %+v, %v", in, m, ok)
		}
		if st, _ := m.Get("status"); st != "0" {
			t.Errorf("Get(status) = %q", st)
		}
	}
	for _, in := range []string{
		line[:len("=== HARNESS n1")], // no kind
		Format("n2", KindEnd, "a.test"),
		Format("", KindEnd, "a.test"),
		"=== HARNESS n1x END a.test",
	} {
		if m, ok := Parse("n1", in); ok {
			t.Errorf("Parse(%q) = %+v, want no marker", in, m)
		}
	}
	if _, ok := Parse("", Format("", KindEnd)); ok {
		t.Error("an empty nonce must match nothing")
	}
}

func TestManifestJSON(t *testing.T) {
	m := Manifest{
		Nonce:    "n",
		Modules:  []Module{{Name: "kvm_amd", Path: "/lib/kvm-amd.ko", Params: "nested=1"}},
		Commands: []Command{{Name: "a.test", Path: "/bin/a.test", Args: []string{"-test.v"}, Timeout: Duration(90 * time.Second)}},
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var back Manifest
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip = %+v, want %+v", back, m)
	}
	if err := json.Unmarshal([]byte(`{"timeout": 5}`), &Command{}); err == nil {
		t.Error("numeric timeout: err = nil, want one (durations are strings)")
	}
}

func TestValidate(t *testing.T) {
	good := func() Manifest {
		return Manifest{
			Nonce:    "n",
			Modules:  []Module{{Name: "kvm", Path: "/kvm.ko"}},
			Commands: []Command{{Name: "a", Path: "/bin/a", Timeout: 1}, {Name: "b", Path: "/bin/b", Timeout: 1}},
		}
	}
	m := good()
	if err := m.Validate(); err != nil {
		t.Fatalf("good manifest: %v", err)
	}
	for name, breakIt := range map[string]func(*Manifest){
		"no nonce":          func(m *Manifest) { m.Nonce = "" },
		"module name space": func(m *Manifest) { m.Modules[0].Name = "kvm amd" },
		"module rel path":   func(m *Manifest) { m.Modules[0].Path = "kvm.ko" },
		"command name":      func(m *Manifest) { m.Commands[0].Name = "a=b" },
		"duplicate name":    func(m *Manifest) { m.Commands[1].Name = "a" },
		"rel path":          func(m *Manifest) { m.Commands[0].Path = "bin/a" },
		"no timeout":        func(m *Manifest) { m.Commands[0].Timeout = 0 },
	} {
		m := good()
		breakIt(&m)
		if err := m.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate = %v, want ErrInvalid", name, err)
		}
	}
}
