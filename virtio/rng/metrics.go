package rng

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Metrics are a device's counters. All are atomic and may be read while
// the device runs.
type Metrics struct {
	Requests            atomic.Uint64 // buffers filled
	Bytes               atomic.Uint64 // random bytes given to the guest
	ReadableIgnored     atomic.Uint64 // chains that also carried driver-readable buffers (ignored)
	SourceErrors        atomic.Uint64 // failed reads from the entropy source
	NeedsReset          atomic.Uint64 // protocol violations that set DEVICE_NEEDS_RESET
	Interrupts          atomic.Uint64 // used-buffer notifications sent
	ConfigWritesIgnored atomic.Uint64
}

// Each calls f for every counter with its name, in a stable order.
func (m *Metrics) Each(f func(name string, v uint64)) {
	for _, c := range []struct {
		name string
		v    *atomic.Uint64
	}{
		{"entropy_requests", &m.Requests}, {"entropy_bytes", &m.Bytes},
		{"readable_ignored", &m.ReadableIgnored}, {"source_errors", &m.SourceErrors},
		{"needs_reset_events", &m.NeedsReset}, {"interrupts", &m.Interrupts},
		{"config_writes_ignored", &m.ConfigWritesIgnored},
	} {
		f(c.name, c.v.Load())
	}
}

// Write prints the counters as "prefix.name value" lines.
func (m *Metrics) Write(w io.Writer, prefix string) {
	m.Each(func(name string, v uint64) { fmt.Fprintf(w, "%s%s %d\n", prefix, name, v) })
}
