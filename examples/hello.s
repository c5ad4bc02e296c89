; The classic "hello world": build the string on the stack with immediate stores and
; print it with bpf_trace_printk (helper 6). Run it with:
;   cargo run -q -p oxbpf-cli -- run examples/hello.s
*(u32 *)(r10 - 16) = 0x6c6c6548   ; "Hell"
*(u32 *)(r10 - 12) = 0x6f77206f   ; "o wo"
*(u32 *)(r10 - 8) = 0x21646c72    ; "rld!"
*(u32 *)(r10 - 4) = 0             ; NUL
r1 = r10
r1 += -16
r2 = 13                           ; length including the NUL
call 6                            ; bpf_trace_printk(fmt, 13)
r0 = 0
exit
