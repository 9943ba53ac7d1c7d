//go:build !linux

package blk

import (
	"io"
	"sync"
)

// Image is a raw disk image file; only Linux has them.
type Image struct {
	Metrics ImageMetrics
	_       sync.Mutex
}

var _ Backend = (*Image)(nil)

// Open fails with ErrNotSupported outside Linux.
func Open(path string, o Options) (*Image, error) {
	return nil, &ImageError{Path: path, Err: ErrNotSupported}
}

func (im *Image) Warnings() []string                         { return nil }
func (im *Image) Path() string                               { return "" }
func (im *Image) Size() int64                                { return 0 }
func (im *Image) ReadOnly() bool                             { return true }
func (im *Image) Direct() bool                               { return false }
func (im *Image) DirectAlignment() (mem, off int64)          { return 0, 0 }
func (im *Image) WriteMetrics(w io.Writer, prefix string)    { im.Metrics.Write(w, prefix) }
func (im *Image) Close() error                               { return nil }
func (im *Image) ReadV(iov [][]byte, off int64) error        { return ErrNotSupported }
func (im *Image) WriteV(iov [][]byte, off int64) error       { return ErrNotSupported }
func (im *Image) Sync() error                                { return ErrNotSupported }
func (im *Image) Discard(off, n int64) error                 { return ErrNotSupported }
func (im *Image) WriteZeroes(off, n int64, unmap bool) error { return ErrNotSupported }
