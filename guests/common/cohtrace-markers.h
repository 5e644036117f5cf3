/*
 * cohtrace-markers.h - cohtrace guest markers for C (docs/markers.md).
 *
 * Each marker is a HINT with an unallocated immediate: a NOP on hardware and in QEMU, decoded by the
 * cohtrace plugin at translation time. Include it in a guest, a kernel module or a fuzzing harness.
 */
#ifndef COHTRACE_MARKERS_H
#define COHTRACE_MARKERS_H

#include <stdint.h>

#define COHTRACE_HINT_BEGIN    0x70
#define COHTRACE_HINT_END      0x71
#define COHTRACE_HINT_NAME     0x72
#define COHTRACE_HINT_SUPPRESS 0x73
#define COHTRACE_HINT_CHECK    0x74

#define COHTRACE_STR_(x) #x
#define COHTRACE_STR(x) COHTRACE_STR_(x)

static inline void cohtrace_marker3(uint64_t a0, uint64_t a1, uint64_t a2, const int hint)
{
    /* Only the immediate differs; the switch folds away for a constant `hint`. */
    register uint64_t x0 __asm__("x0") = a0;
    register uint64_t x1 __asm__("x1") = a1;
    register uint64_t x2 __asm__("x2") = a2;
    switch (hint) {
    case COHTRACE_HINT_BEGIN:
        __asm__ volatile("hint #" COHTRACE_STR(COHTRACE_HINT_BEGIN) :: "r"(x0), "r"(x1), "r"(x2) : "memory");
        break;
    case COHTRACE_HINT_END:
        __asm__ volatile("hint #" COHTRACE_STR(COHTRACE_HINT_END) :: "r"(x0), "r"(x1), "r"(x2) : "memory");
        break;
    case COHTRACE_HINT_NAME:
        __asm__ volatile("hint #" COHTRACE_STR(COHTRACE_HINT_NAME) :: "r"(x0), "r"(x1), "r"(x2) : "memory");
        break;
    case COHTRACE_HINT_SUPPRESS:
        __asm__ volatile("hint #" COHTRACE_STR(COHTRACE_HINT_SUPPRESS) :: "r"(x0), "r"(x1), "r"(x2) : "memory");
        break;
    default:
        __asm__ volatile("hint #" COHTRACE_STR(COHTRACE_HINT_CHECK) :: "r"(x0), "r"(x1), "r"(x2) : "memory");
        break;
    }
}

/* Start and end of a test case; END also checks, like cohtrace_check(). */
static inline void cohtrace_begin(uint64_t id) { cohtrace_marker3(id, 0, 0, COHTRACE_HINT_BEGIN); }
static inline void cohtrace_end(uint64_t id) { cohtrace_marker3(id, 0, 0, COHTRACE_HINT_END); }
/* Fire the plugin's on_hazard action if a hazard occurred since the last cohtrace_begin(). */
static inline void cohtrace_check(void) { cohtrace_marker3(0, 0, 0, COHTRACE_HINT_CHECK); }
/* Reports on [start, start + len) say "in <name>" (at most 16 characters are kept). */
static inline void cohtrace_name(const char *name, const volatile void *start, uint64_t len)
{
    cohtrace_marker3((uint64_t)(uintptr_t)name, (uint64_t)(uintptr_t)start, len, COHTRACE_HINT_NAME);
}
/* No hazard is reported on [start, start + len). */
static inline void cohtrace_suppress(const volatile void *start, uint64_t len)
{
    cohtrace_marker3(0, (uint64_t)(uintptr_t)start, len, COHTRACE_HINT_SUPPRESS);
}

#endif
