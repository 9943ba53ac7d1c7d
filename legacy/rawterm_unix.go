//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package legacy

import (
	"errors"

	"golang.org/x/sys/unix"
)

type termState = unix.Termios

func termGet(fd uintptr) (*termState, error) {
	t, err := unix.IoctlGetTermios(int(fd), ioctlGetTermios)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EINVAL) {
		return nil, errNotTerminal
	}
	return t, err
}

// termSetRaw applies QEMU's qemu_chr_set_echo_stdio(false) settings, with
// ISIG also cleared as QEMU does when signals are not allowed on stdio.
func termSetRaw(fd uintptr, saved *termState) error {
	t := *saved
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP |
		unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag |= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.IEXTEN | unix.ISIG
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
	return termSet(fd, &t)
}

// termSet applies t at once (TCSANOW): waiting for output to drain could
// hang a restore on a stalled terminal.
func termSet(fd uintptr, t *termState) error {
	return unix.IoctlSetTermios(int(fd), ioctlSetTermios, t)
}
