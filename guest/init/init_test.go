package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseIP(t *testing.T) {
	c, ok, err := parseIP("console=ttyS0 ip=10.0.2.15::10.0.2.2:255.255.0.0:vm1:eth1:off quiet")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if c.addr.String() != "10.0.2.15" || c.gw.String() != "10.0.2.2" || c.dev != "eth1" || c.hostname != "vm1" {
		t.Fatalf("%+v", c)
	}
	if ones, _ := c.mask.Size(); ones != 16 {
		t.Fatalf("mask /%d", ones)
	}
	c, ok, err = parseIP("ip=192.168.1.2")
	if err != nil || !ok || c.dev != "eth0" || c.gw.IsValid() {
		t.Fatalf("%+v %v %v", c, ok, err)
	}
	if _, ok, _ := parseIP("quiet"); ok {
		t.Fatal("found ip= where there is none")
	}
	for _, bad := range []string{"ip=dhcp", "ip=1.2.3.4::x", "ip=1.2.3.4:::300.1.1.1", "ip=::1"} {
		if _, _, err := parseIP(bad); err == nil {
			t.Errorf("parseIP(%q) accepted", bad)
		}
	}
}

func TestRunStatuses(t *testing.T) {
	for _, c := range []struct {
		args   []string
		status int
		stderr string
	}{
		{[]string{"true"}, 0, ""},
		{[]string{"false"}, 1, ""},
		{[]string{"sh", "-c", "exit 3"}, 3, ""},
		{[]string{"sh", "-c", "exit 255"}, 255, ""},
		{[]string{"sh", "-c", "kill -9 $$"}, 137, ""},
		{[]string{"/no/such/command"}, 127, "command not found"},
	} {
		var out, errb bytes.Buffer
		if got := run(c.args, &out, &errb); got != c.status || !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("run(%q) = %d, stderr %q; want %d, %q", c.args, got, errb.String(), c.status, c.stderr)
		}
	}
}

func TestApplets(t *testing.T) {
	if applet("true", nil) != 0 || applet("false", nil) != 1 || applet("nonesuch", nil) != 127 {
		t.Fatal("applet statuses")
	}
}
