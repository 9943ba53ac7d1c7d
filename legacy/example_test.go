package legacy_test

import (
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/govmm/govmm/legacy"
)

// gsi stands in for the machine's interrupt controller input.
type gsi struct{ n uint32 }

func (g gsi) SetLevel(high bool) { /* KVM_IRQ_LINE g.n, high */ }

// Example wires the stdio console to a UART the way a machine does.
func Example() {
	uart, err := legacy.NewUART(legacy.UARTConfig{Out: os.Stdout, IRQ: gsi{4}})
	if err != nil {
		log.Fatal(err)
	}
	// ... register uart on the PIO bus at 0x3f8 (size 8), or on MMIO with
	// RegShift/RegIOWidth from the device tree ...

	term, err := legacy.MakeRaw(os.Stdin)
	if err != nil {
		log.Print(err) // not fatal: the console works in cooked mode too
	}
	defer term.Restore()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		<-sigs
		term.Restore()
		uart.Close()
		os.Exit(1)
	}()

	con := legacy.NewConsole(legacy.ConsoleConfig{In: os.Stdin, Out: os.Stdout})
	go con.Run(uart.Input())

	<-con.Quit() // or the guest shut down
	// Stop the vCPUs, then flush what the guest printed last.
	if err := uart.Close(); err != nil {
		log.Print(err)
	}
}
