// Package runproto is the contract between `govmm run` on the host and
// guest/init in the guest: how the command travels on the kernel command
// line, and how its output and exit status come back over the virtio
// console (/dev/hvc0), separate from the kernel's console messages.
//
// The command is JSON (a list of arguments), base64url-encoded into one
// kernel parameter, so any argument survives: spaces, quotes, UTF-8. The
// parameter's name has a dot, which makes the kernel keep it away from
// init's environment and argv.
//
// Back from the guest comes a stream of records: a type byte, a
// little-endian uint32 length, and that many bytes.
package runproto

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// CmdParam is the kernel parameter that carries the command.
const CmdParam = "govmm.cmd"

// Record types.
const (
	Stdout byte = 1
	Stderr byte = 2
	Exit   byte = 3 // data: the exit status, int32 little endian
	// Started: init is about to run the command (no data). The host
	// takes it as the boot-complete marker.
	Started byte = 4
)

// MaxRecord bounds a record's length; a guest sending more is broken.
const MaxRecord = 1 << 20

// EncodeCmd returns the kernel parameter carrying args.
func EncodeCmd(args []string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("runproto: empty command")
	}
	b, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	return CmdParam + "=" + base64.RawURLEncoding.EncodeToString(b), nil
}

// DecodeCmd finds the command in a kernel command line. ok is false when
// there is none.
func DecodeCmd(cmdline string) (args []string, ok bool, err error) {
	for _, f := range strings.Fields(cmdline) {
		v, found := strings.CutPrefix(f, CmdParam+"=")
		if !found {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return nil, true, fmt.Errorf("runproto: %s: %w", CmdParam, err)
		}
		if err := json.Unmarshal(b, &args); err != nil {
			return nil, true, fmt.Errorf("runproto: %s: %w", CmdParam, err)
		}
		if len(args) == 0 {
			return nil, true, errors.New("runproto: empty command")
		}
		return args, true, nil
	}
	return nil, false, nil
}

// Writer writes records. It is not safe for concurrent use; the guest
// serialises its stdout and stderr pumps through one.
type Writer struct{ W io.Writer }

// Write sends one record of type typ (splitting data longer than
// MaxRecord).
func (w Writer) Write(typ byte, data []byte) error {
	for {
		n := min(len(data), MaxRecord)
		var h [5]byte
		h[0] = typ
		binary.LittleEndian.PutUint32(h[1:], uint32(n))
		// One write per record keeps records whole on the wire.
		if _, err := w.W.Write(append(h[:], data[:n]...)); err != nil {
			return err
		}
		data = data[n:]
		if len(data) == 0 {
			return nil
		}
	}
}

// WriteExit sends the exit status.
func (w Writer) WriteExit(status int) error {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], uint32(int32(status)))
	return w.Write(Exit, b[:])
}

// Demux reads records from a byte stream (arriving in arbitrary pieces
// through Write) and routes them: stdout and stderr data to their
// writers, the exit status to OnExit.
type Demux struct {
	Stdout, Stderr io.Writer
	OnExit         func(status int)
	OnStarted      func()
	buf            []byte
	err            error
}

// Write consumes stream bytes. Once the stream is malformed every Write
// fails.
func (d *Demux) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	d.buf = append(d.buf, p...)
	for len(d.buf) >= 5 {
		typ, n := d.buf[0], binary.LittleEndian.Uint32(d.buf[1:])
		if n > MaxRecord {
			d.err = fmt.Errorf("runproto: record of %d bytes", n)
			return 0, d.err
		}
		if uint32(len(d.buf)-5) < n {
			break
		}
		data := d.buf[5 : 5+n]
		switch typ {
		case Stdout:
			d.Stdout.Write(data)
		case Stderr:
			d.Stderr.Write(data)
		case Exit:
			if n != 4 {
				d.err = fmt.Errorf("runproto: exit record of %d bytes", n)
				return 0, d.err
			}
			if d.OnExit != nil {
				d.OnExit(int(int32(binary.LittleEndian.Uint32(data))))
			}
		case Started:
			if d.OnStarted != nil {
				d.OnStarted()
			}
		default:
			d.err = fmt.Errorf("runproto: unknown record type %d", typ)
			return 0, d.err
		}
		d.buf = d.buf[:copy(d.buf, d.buf[5+n:])]
	}
	return len(p), nil
}
