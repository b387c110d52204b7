// float32 -> float16 (core/common/float16.h) against a reference that searches the halves by value.
// (halfToFloat and bfloat16ToFloat are tested in tst_safetensors.)
#include "core/common/float16.h"

#include <QTest>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

using namespace ts;

namespace {

// The half nearest to `f` (ties to the even one), found by value: halfToFloat is monotonic over
// the positive halves 0x0000..0x7c00 (infinity), so a binary search finds the largest one not
// above |f|; the next one up competes. Past 65504 the next one is 2^16, which rounds to infinity.
uint16_t nearestHalf(float f) {
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double a = std::fabs(double(f));
    uint32_t lo = 0, hi = 0x7c00; // halfToFloat(lo) <= a < halfToFloat(hi + 1) kept true below
    while (lo < hi) {
        const uint32_t mid = (lo + hi + 1) / 2;
        if (double(halfToFloat(uint16_t(mid))) <= a)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == 0x7c00)
        return uint16_t(sign | 0x7c00);
    const double below = halfToFloat(uint16_t(lo));
    const double above = lo == 0x7bff ? 65536.0 : double(halfToFloat(uint16_t(lo + 1)));
    const double dBelow = a - below, dAbove = above - a;
    const bool up = dAbove < dBelow || (dAbove == dBelow && (lo & 1));
    return uint16_t(sign | (up ? lo + 1 : lo));
}

} // namespace

class TestFloat16 : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // Every half is a float: converting it back gives the same bits (NaNs stay NaNs).
    void everyHalfRoundTrips() {
        for (uint32_t h = 0; h <= 0xffff; ++h) {
            const float f = halfToFloat(uint16_t(h));
            const uint16_t back = floatToHalf(f);
            if (std::isnan(f))
                QVERIFY2(std::isnan(halfToFloat(back)), qPrintable(QString::number(h, 16)));
            else
                QVERIFY2(back == h, qPrintable(QString::number(h, 16)));
        }
    }

    // Values between halves (ties, subnormals, overflow edges) round like the reference.
    void roundsToNearestEven_data() {
        QTest::addColumn<float>("value");
        QTest::newRow("1 + half an ulp (tie, to even)") << std::bit_cast<float>(0x3f801000u);
        QTest::newRow("1 + 3 half ulps (tie, to even)") << std::bit_cast<float>(0x3f803000u);
        QTest::newRow("just above a tie") << std::bit_cast<float>(0x3f801001u);
        QTest::newRow("largest half") << 65504.0f;
        QTest::newRow("between 65504 and the overflow tie") << 65519.0f;
        QTest::newRow("the overflow tie (to infinity)") << 65520.0f;
        QTest::newRow("1e9") << 1e9f;
        QTest::newRow("-inf") << -std::numeric_limits<float>::infinity();
        QTest::newRow("smallest subnormal") << std::ldexp(1.0f, -24);
        QTest::newRow("half the smallest subnormal (tie, to zero)") << std::ldexp(1.0f, -25);
        QTest::newRow("just above that") << std::nextafter(std::ldexp(1.0f, -25), 1.0f);
        QTest::newRow("1.5 x smallest subnormal (tie, to even)") << 1.5f * std::ldexp(1.0f, -24);
        QTest::newRow("float subnormal") << std::bit_cast<float>(0x00000001u);
        QTest::newRow("-0") << -0.0f;
        QTest::newRow("largest subnormal + a bit") << std::ldexp(1023.7f, -24);
    }
    void roundsToNearestEven() {
        QFETCH(float, value);
        QCOMPARE(floatToHalf(value), nearestHalf(value));
    }

    void randomFloatsRoundLikeTheReference() {
        std::mt19937 rng(16);
        std::uniform_real_distribution<float> exponent(-27.0f, 17.0f);
        for (int i = 0; i < 200000; ++i) {
            const float f = std::exp2(exponent(rng)) * ((rng() & 1) ? -1.0f : 1.0f);
            QVERIFY2(floatToHalf(f) == nearestHalf(f),
                     qPrintable(QStringLiteral("%1 (0x%2)")
                                    .arg(double(f))
                                    .arg(std::bit_cast<uint32_t>(f), 8, 16)));
        }
    }

    void nanStaysNan() {
        QVERIFY(std::isnan(halfToFloat(floatToHalf(std::numeric_limits<float>::quiet_NaN()))));
        QVERIFY(
            std::isnan(halfToFloat(floatToHalf(std::bit_cast<float>(0x7f800001u))))); // signalling
    }
};

int runFloat16Tests(int argc, char **argv) {
    TestFloat16 t;
    return QTest::qExec(&t, argc, argv);
}

#include "tst_float16.moc"
