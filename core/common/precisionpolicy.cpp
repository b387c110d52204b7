#include "core/common/precisionpolicy.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define TOWERSEARCH_X86 1
#endif

#include <cstdint>

namespace ts {

QString precisionName(Precision precision) {
    switch (precision) {
    case Precision::Float32:
        return QStringLiteral("f32");
    case Precision::BFloat16:
        return QStringLiteral("bf16");
    case Precision::Int8:
        return QStringLiteral("int8");
    }
    return {};
}

QString precisionSettingName(PrecisionSetting setting) {
    switch (setting) {
    case PrecisionSetting::Auto:
        return QStringLiteral("auto");
    case PrecisionSetting::Float32:
        return precisionName(Precision::Float32);
    case PrecisionSetting::BFloat16:
        return precisionName(Precision::BFloat16);
    case PrecisionSetting::Int8:
        return precisionName(Precision::Int8);
    }
    return {};
}

std::optional<PrecisionSetting> parsePrecisionSetting(QStringView text) {
    const QString t = text.trimmed().toString().toLower();
    if (t == QLatin1String("auto"))
        return PrecisionSetting::Auto;
    if (t == QLatin1String("f32") || t == QLatin1String("float32"))
        return PrecisionSetting::Float32;
    if (t == QLatin1String("bf16") || t == QLatin1String("bfloat16"))
        return PrecisionSetting::BFloat16;
    if (t == QLatin1String("int8"))
        return PrecisionSetting::Int8;
    return std::nullopt;
}

namespace {

#ifdef TOWERSEARCH_X86
// XCR0: which register states the OS saves on a context switch. An instruction set whose state
// the OS does not save faults, whatever CPUID says (e.g. AVX-512 disabled by a hypervisor).
uint64_t xcr0() {
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) // OSXSAVE
        return 0;
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t(hi) << 32) | lo;
}

CpuFeatures detectOnce() {
    CpuFeatures f;
    uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx))
        return f;
    const uint32_t maxSubleaf = eax, leaf7Edx = edx;
    const uint64_t os = xcr0();
    const bool avx512State = (os & 0xE6) == 0xE6; // SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM
    const bool amxState = (os & (3ull << 17)) == (3ull << 17); // XTILECFG, XTILEDATA
    if (maxSubleaf >= 1 && __get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx))
        f.avx512bf16 = avx512State && (eax & (1u << 5));
    f.amxbf16 = amxState && (leaf7Edx & (1u << 22));
    return f;
}
#else
CpuFeatures detectOnce() {
    return {};
}
#endif

} // namespace

CpuFeatures CpuFeatures::detect() {
    static const CpuFeatures features = detectOnce();
    return features;
}

PrecisionChoice resolvePrecision(PrecisionSetting setting, const CpuFeatures &cpu) {
    switch (setting) {
    case PrecisionSetting::Float32:
        return {Precision::Float32, QStringLiteral("f32 (chosen; matches the reference to 1e-4)")};
    case PrecisionSetting::BFloat16:
        return {Precision::BFloat16,
                cpu.nativeBFloat16() ? QStringLiteral("bf16 (chosen)")
                                     : QStringLiteral("bf16 (chosen; this CPU has no native "
                                                      "bfloat16, so it may be slower than f32)")};
    case PrecisionSetting::Int8:
        return {Precision::Int8, QStringLiteral("int8 (chosen)")};
    case PrecisionSetting::Auto:
        break;
    }
    if (cpu.nativeBFloat16()) {
        const QString how = cpu.avx512bf16 && cpu.amxbf16
                                ? QStringLiteral("AVX512-BF16 and AMX-BF16")
                            : cpu.amxbf16 ? QStringLiteral("AMX-BF16")
                                          : QStringLiteral("AVX512-BF16");
        return {Precision::BFloat16,
                QStringLiteral("bf16 (auto: this CPU executes bfloat16 natively, %1)").arg(how)};
    }
    return {Precision::Float32,
            QStringLiteral(
                "f32 (auto: this CPU has no native bfloat16, neither AVX512-BF16 nor AMX-BF16)")};
}

} // namespace ts
