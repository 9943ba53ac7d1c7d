package blk

import (
	"fmt"
	"io"
	"sync/atomic"
)

// Metrics are a device's counters, named <direction>_<noun>_<kind> as
// the other devices' are. All are atomic and may be read while the
// device runs.
type Metrics struct {
	ReadRequests        atomic.Uint64 // IN requests
	ReadBytes           atomic.Uint64 // bytes read for the guest
	WriteRequests       atomic.Uint64 // OUT requests
	WriteBytes          atomic.Uint64 // bytes written for the guest
	FlushRequests       atomic.Uint64 // FLUSH requests
	FlushNs             atomic.Uint64 // total time spent in fdatasync
	FlushWaits          atomic.Uint64 // FLUSHes that waited for earlier requests
	DiscardRequests     atomic.Uint64
	WriteZeroesRequests atomic.Uint64
	GetIDRequests       atomic.Uint64

	UnsupportedRequests atomic.Uint64 // answered UNSUPP
	OutOfRangeRequests  atomic.Uint64 // sectors past the capacity: IOERR
	ReadOnlyRejects     atomic.Uint64 // writes to a read-only drive: IOERR
	BadRequests         atomic.Uint64 // other malformed parameters (a partial sector, bad segments): IOERR
	IOErrors            atomic.Uint64 // backend failures (EIO, ENOSPC, ...): IOERR
	MalformedChains     atomic.Uint64 // chains without header or status: NEEDS_RESET

	PollHits            atomic.Uint64 // requests found by polling the ring (no kick, no wakeup)
	Sleeps              atomic.Uint64 // times the device slept until a kick
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
		{"read_requests", &m.ReadRequests}, {"read_bytes", &m.ReadBytes},
		{"write_requests", &m.WriteRequests}, {"write_bytes", &m.WriteBytes},
		{"flush_requests", &m.FlushRequests}, {"flush_ns", &m.FlushNs}, {"flush_waits", &m.FlushWaits},
		{"discard_requests", &m.DiscardRequests}, {"write_zeroes_requests", &m.WriteZeroesRequests},
		{"get_id_requests", &m.GetIDRequests},
		{"unsupported_requests", &m.UnsupportedRequests}, {"out_of_range_requests", &m.OutOfRangeRequests},
		{"read_only_rejects", &m.ReadOnlyRejects}, {"bad_requests", &m.BadRequests},
		{"io_errors", &m.IOErrors}, {"malformed_chains", &m.MalformedChains},
		{"poll_hits", &m.PollHits}, {"sleeps", &m.Sleeps}, {"needs_reset_events", &m.NeedsReset},
		{"interrupts", &m.Interrupts}, {"config_writes_ignored", &m.ConfigWritesIgnored},
	} {
		f(c.name, c.v.Load())
	}
}

// Write prints the counters as "prefix.name value" lines.
func (m *Metrics) Write(w io.Writer, prefix string) {
	m.Each(func(name string, v uint64) { fmt.Fprintf(w, "%s%s %d\n", prefix, name, v) })
}
