package net

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Metrics are a device's counters, named <direction>_<noun>_<kind> as
// Firecracker's net metrics are. All are atomic and may be read while the
// device runs.
type Metrics struct {
	RxFrames        atomic.Uint64 // frames delivered to the guest
	RxBytes         atomic.Uint64 // their bytes, header excluded
	RxDropped       atomic.Uint64 // frames read from the backend and lost (larger than the guest's buffers)
	NoRxAvailBuffer atomic.Uint64 // times the backend had to wait for guest receive buffers
	TapReadErrors   atomic.Uint64 // backend read failures other than EAGAIN

	TxFrames       atomic.Uint64 // frames written to the backend
	TxBytes        atomic.Uint64 // their bytes, header excluded
	TapWriteEagain atomic.Uint64 // writes that found the backend full: the frame was parked
	TxParkedNs     atomic.Uint64 // total time a frame waited parked
	TxDropped      atomic.Uint64 // frames the backend refused with an error other than EAGAIN
	TxMalformed    atomic.Uint64 // chains too short for a header, too long, or with too many buffers
	TxZeroLength   atomic.Uint64 // chains with a header and no frame: completed, not sent
	TapWriteErrors atomic.Uint64 // backend write failures (each also a TxDropped)

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
		{"rx_frames", &m.RxFrames}, {"rx_bytes", &m.RxBytes}, {"rx_dropped", &m.RxDropped},
		{"no_rx_avail_buffer", &m.NoRxAvailBuffer}, {"tap_read_errors", &m.TapReadErrors},
		{"tx_frames", &m.TxFrames}, {"tx_bytes", &m.TxBytes}, {"tap_write_eagain", &m.TapWriteEagain},
		{"tx_parked_ns", &m.TxParkedNs}, {"tx_dropped", &m.TxDropped}, {"tx_malformed", &m.TxMalformed},
		{"tx_zero_length", &m.TxZeroLength}, {"tap_write_errors", &m.TapWriteErrors},
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
