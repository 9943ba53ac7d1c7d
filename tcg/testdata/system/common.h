/*
 * Shared definitions of the bare-metal programs of tcg/system_test.go.
 *
 * The test machine has 2 MiB of RAM at 0x80000000 and a test device at
 * DEV. Programs keep DEV in s11 and report what they observe by writing
 * values to the device's log register; the Go test compares the log with
 * what the privileged architecture requires. Every instruction is 4 bytes
 * (norvc), so trap handlers skip a faulting instruction with epc += 4.
 */

#define DEV          0x100000
#define DEV_DONE     0   /* write: the program is finished (the test stops the hart) */
#define DEV_LOG      8   /* write: append the value to the log */
#define DEV_IRQ_SET  16  /* write: raise the interrupt lines (mip bits) in the value */
#define DEV_IRQ_CLR  24  /* write: lower them */

#define EXIT_A7      93  /* a7 value of the final ecall: the handler ends the program */

/* mstatus fields */
#define MSTATUS_SIE   (1 << 1)
#define MSTATUS_MIE   (1 << 3)
#define MSTATUS_SPIE  (1 << 5)
#define MSTATUS_MPIE  (1 << 7)
#define MSTATUS_SPP   (1 << 8)
#define MSTATUS_MPP   (3 << 11)
#define MSTATUS_MPP_S (1 << 11)
#define MSTATUS_FS    (3 << 13)
#define MSTATUS_MPRV  (1 << 17)
#define MSTATUS_SUM   (1 << 18)
#define MSTATUS_MXR   (1 << 19)
/* The interrupt-enable stacks, as the tests log them. */
#define MSTATUS_STACKS (MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP)

/* PTE bits */
#define PTE_V (1 << 0)
#define PTE_R (1 << 1)
#define PTE_W (1 << 2)
#define PTE_X (1 << 3)
#define PTE_U (1 << 4)
#define PTE_A (1 << 6)
#define PTE_D (1 << 7)

#define SATP_SV39 (8 << 60)
#define SATP_SV48 (9 << 60)

/* Log a register, an immediate, a CSR (t6 is scratch). */
#define LOG(r)    sd r, DEV_LOG(s11)
#define LOGI(v)   li t6, v; sd t6, DEV_LOG(s11)
#define LOGCSR(c) csrr t6, c; sd t6, DEV_LOG(s11)
/* Log a CSR masked with m (t5, t6 scratch). */
#define LOGCSRM(c, m) csrr t6, c; li t5, m; and t6, t6, t5; sd t6, DEV_LOG(s11)
/* Raise / lower interrupt lines through the device. */
#define IRQ_SET(m) li t6, m; sd t6, DEV_IRQ_SET(s11)
#define IRQ_CLR(m) li t6, m; sd t6, DEV_IRQ_CLR(s11)
/* End the program. */
#define DONE      li t6, 1; sd t6, DEV_DONE(s11); 999: j 999b
/* Ask the trap handler to end the program. */
#define EXIT      li a7, EXIT_A7; ecall

/* The PTE of a leaf or pointer to physical address in reg r (into rd). */
#define MKPTE(rd, r, flags) srli rd, r, 12; slli rd, rd, 10; ori rd, rd, flags

	.option norvc
