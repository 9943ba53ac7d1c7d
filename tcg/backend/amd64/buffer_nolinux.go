//go:build unix && !linux

package amd64

func adviseHugePages([]byte) {}
