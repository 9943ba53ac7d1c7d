package legacy

// This file holds the 16550A register file: what each register read and
// write does, and which interrupt is pending. uart.go has the device's
// plumbing, uart_rx.go the receiver, uart_tx.go the output buffer.

// Register numbers after the register shift (16550A datasheet, table 2,
// "register addresses"). Offsets 0 and 1 are the divisor latch while
// LCR.DLAB is set.
const (
	regRBR = 0 // read: receiver buffer; write: THR. DLAB: DLL
	regIER = 1 // interrupt enable. DLAB: DLM
	regIIR = 2 // read: interrupt identification; write: FCR
	regLCR = 3
	regMCR = 4
	regLSR = 5
	regMSR = 6
	regSCR = 7
)

// IER bits (16550A datasheet, "interrupt enable register").
const (
	ierERBFI = 0x01 // received data available, and character timeout
	ierETBEI = 0x02 // transmitter holding register empty
	ierELSI  = 0x04 // receiver line status
	ierEDSSI = 0x08 // modem status
	ierMask  = 0x0f // bits 4-7 are always zero on a 16550A
)

// IIR values (16550A datasheet, "interrupt identification register", table
// 4). Bit 0 clear means an interrupt is pending; bits 1-3 name the
// highest-priority source; bits 6-7 are set while the FIFOs are enabled.
const (
	iirNone = 0x01
	iirMSI  = 0x00 // priority 4: modem status
	iirTHRI = 0x02 // priority 3: THR empty
	iirRDI  = 0x04 // priority 2: received data at the trigger level
	iirRLSI = 0x06 // priority 1: receiver line status
	iirCTI  = 0x0c // priority 2: character timeout
	iirFIFO = 0xc0
)

// FCR bits (16550A datasheet, "FIFO control register").
const (
	fcrEnable  = 0x01
	fcrClearRX = 0x02
	fcrClearTX = 0x04
)

// LCR, MCR, LSR and MSR bits.
const (
	lcrDLAB = 0x80

	mcrDTR  = 0x01
	mcrRTS  = 0x02
	mcrOUT1 = 0x04
	mcrOUT2 = 0x08
	mcrLoop = 0x10
	mcrMask = 0x1f // bits 5-7 are always zero on a 16550A

	lsrDR     = 0x01
	lsrOE     = 0x02
	lsrPE     = 0x04
	lsrFE     = 0x08
	lsrBI     = 0x10
	lsrTHRE   = 0x20
	lsrTEMT   = 0x40
	lsrErrors = lsrOE | lsrPE | lsrFE | lsrBI

	msrDCTS = 0x01
	msrDDSR = 0x02
	msrTERI = 0x04
	msrDDCD = 0x08
	msrCTS  = 0x10
	msrDSR  = 0x20
	msrRI   = 0x40
	msrDCD  = 0x80
)

// Precondition: u.mu held.
func (u *UART) readLocked(reg int) byte {
	dlab := u.lcr&lcrDLAB != 0
	switch reg {
	case regRBR:
		if dlab {
			return u.dll
		}
		return u.popRXLocked()
	case regIER:
		if dlab {
			return u.dlm
		}
		return u.ier
	case regIIR:
		id := u.pendingLocked()
		// 16550A datasheet, table 4: the THRE interrupt is reset by
		// "reading the IIR register (if source of interrupt)".
		if id == iirTHRI {
			u.thrPending = false
		}
		if u.fifoEnabled {
			id |= iirFIFO
		}
		return id
	case regLCR:
		return u.lcr
	case regMCR:
		return u.mcr
	case regLSR:
		v := u.lsrErr | lsrTHRE | lsrTEMT
		if u.rxLen > 0 {
			v |= lsrDR
		}
		// OE, PE, FE and BI are reset by reading LSR; the receiver line
		// status interrupt with them.
		u.lsrErr = 0
		return v
	case regMSR:
		v := u.msrLines | u.msrDelta
		u.msrDelta = 0 // delta bits are reset by reading MSR
		return v
	default:
		return u.scr
	}
}

// writeLocked applies a register write. It reports whether v is a
// transmitted byte for the output buffer.
// Precondition: u.mu held.
func (u *UART) writeLocked(reg int, v byte) (emit bool) {
	dlab := u.lcr&lcrDLAB != 0
	switch reg {
	case regRBR:
		if dlab {
			u.dll = v
			return false
		}
		// Writing THR resets the THRE interrupt; the transmitter takes the
		// byte at once, THR is empty again and THRE is asserted anew.
		u.thrPending = true
		if u.mcr&mcrLoop != 0 {
			// Loopback: the transmitter output is wired to the receiver
			// and the serial output is held marking (nothing leaves).
			u.loopbackRXLocked(v)
			return false
		}
		u.metrics.TxBytes.Add(1)
		return true
	case regIER:
		if dlab {
			u.dlm = v
			return false
		}
		v &= ierMask
		switch {
		case v&^u.ier&ierETBEI != 0:
			// Enabling ETBEI while THR is empty (always, here) raises the
			// THRE interrupt even if it was cleared by an IIR read
			// before. Linux's serial8250_startup checks for this and
			// marks the port UART_BUG_THRE if it is missing; its
			// start_tx and console write rely on it.
			u.thrPending = true
		case u.ier&^v&ierETBEI != 0:
			u.thrPending = false
		}
		u.ier = v
	case regIIR:
		u.writeFCRLocked(v)
	case regLCR:
		u.lcr = v
	case regMCR:
		wasLoop := u.mcr&mcrLoop != 0
		u.mcr = v & mcrMask
		u.updateModemLinesLocked()
		if wasLoop && u.mcr&mcrLoop == 0 && u.feedersWaiting > 0 {
			u.rxSpace.Broadcast()
		}
	case regLSR, regMSR:
		// Factory test registers on real parts; writes are ignored.
	default:
		u.scr = v
	}
	return false
}

// Precondition: u.mu held.
func (u *UART) writeFCRLocked(v byte) {
	enable := v&fcrEnable != 0
	if enable != u.fifoEnabled {
		// Changing FCR0 clears both FIFOs (16550A datasheet, FCR bit 0).
		u.resetRXLocked()
		u.fifoEnabled = enable
	}
	if !enable {
		// "FCR0 must be a 1 when other FCR bits are written to or they
		// will not be programmed."
		return
	}
	if v&fcrClearRX != 0 {
		u.resetRXLocked()
	}
	// fcrClearTX has nothing to clear: bytes already transmitted sit in
	// the host-side output buffer, which is past the wire.
	u.trigger = triggerLevels[v>>6]
}

// Precondition: u.mu held.
func (u *UART) modemLinesLocked() byte {
	if u.mcr&mcrLoop == 0 {
		// Nothing is connected that could drop a line, so report a
		// ready modem: Linux's 8250 driver waits for CTS with hardware
		// flow control and reports DCD as carrier.
		return msrCTS | msrDSR | msrDCD
	}
	// Loopback wiring (16550A datasheet, MCR bit 4): RTS->CTS, DTR->DSR,
	// OUT1->RI, OUT2->DCD.
	var v byte
	if u.mcr&mcrRTS != 0 {
		v |= msrCTS
	}
	if u.mcr&mcrDTR != 0 {
		v |= msrDSR
	}
	if u.mcr&mcrOUT1 != 0 {
		v |= msrRI
	}
	if u.mcr&mcrOUT2 != 0 {
		v |= msrDCD
	}
	return v
}

// updateModemLinesLocked recomputes the modem lines after an MCR write and
// latches the delta bits for those that changed.
// Precondition: u.mu held.
func (u *UART) updateModemLinesLocked() {
	old, cur := u.msrLines, u.modemLinesLocked()
	changed := old ^ cur
	if changed&msrCTS != 0 {
		u.msrDelta |= msrDCTS
	}
	if changed&msrDSR != 0 {
		u.msrDelta |= msrDDSR
	}
	if changed&msrDCD != 0 {
		u.msrDelta |= msrDDCD
	}
	if old&msrRI != 0 && cur&msrRI == 0 {
		u.msrDelta |= msrTERI // trailing edge only
	}
	u.msrLines = cur
}

// pendingLocked returns the IIR identification of the highest-priority
// enabled interrupt, or iirNone (16550A datasheet, table 4).
// Precondition: u.mu held.
func (u *UART) pendingLocked() byte {
	if u.ier&ierELSI != 0 && u.lsrErr != 0 {
		return iirRLSI
	}
	if u.ier&ierERBFI != 0 && u.rxLen > 0 {
		if !u.fifoEnabled || u.rxLen >= u.trigger {
			return iirRDI
		}
		if u.lineIdleLocked() {
			return iirCTI
		}
	}
	if u.ier&ierETBEI != 0 && u.thrPending {
		return iirTHRI
	}
	if u.ier&ierEDSSI != 0 && u.msrDelta != 0 {
		return iirMSI
	}
	return iirNone
}

// updateIRQLocked drives the IRQ line with the INTR output, calling SetLevel
// only when the level changes.
// Precondition: u.mu held.
func (u *UART) updateIRQLocked() {
	level := u.pendingLocked() != iirNone
	if u.out2Gates && (u.mcr&mcrOUT2 == 0 || u.mcr&mcrLoop != 0) {
		level = false
	}
	if level == u.irqLevel {
		return
	}
	u.irqLevel = level
	if u.irq != nil {
		u.irq.SetLevel(level)
	}
}
