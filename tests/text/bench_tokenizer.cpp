// Tokenizer throughput on a few MB of mixed text that the program builds itself (captions,
// punctuation, non-Latin scripts, emoji, long words). Not a test: timings depend on the machine.
//
// Usage: bench_tokenizer [TOKENIZER_DIR] [MEGABYTES]   (defaults: tests/data/tokenizer, 4)
#include "core/text/tokenizer.h"

#include <QCoreApplication>
#include <QElapsedTimer>

#include <cstdio>
#include <random>

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const QStringList args = QCoreApplication::arguments();
    const QString dir =
        args.size() > 1 ? args[1] : QStringLiteral(TOWERSEARCH_TEST_DATA_DIR "/tokenizer");
    const double megabytes = args.size() > 2 ? args[2].toDouble() : 4.0;

    QElapsedTimer loadTimer;
    loadTimer.start();
    auto tok = ts::Tokenizer::load(dir);
    const qint64 loadMs = loadTimer.elapsed();
    if (!tok) {
        std::fprintf(stderr, "bench_tokenizer: %s\n", qPrintable(tok.error().message));
        return 1;
    }

    std::printf("load: %lld ms (%s)\n", static_cast<long long>(loadMs), qPrintable(dir));

    const QStringList pieces = {
        QStringLiteral("A man riding a wave on top of a surfboard."),
        QStringLiteral("Two dogs playing in the snow, near a red fence!"),
        QStringLiteral("\"What's that?\" she asked -- it's a 1970s Polaroid (f/8, 1/125s)."),
        QStringLiteral("Ein Hund läuft über die Straße; naïve café crème brûlée."),
        QStringLiteral("Кошка сидит на подоконнике и смотрит в окно."),
        QStringLiteral("一只猫坐在沙发上。 犬が公園で走っている。"),
        QStringLiteral("सूर्यास्त के समय समुद्र तट पर लोग।"),
        QStringLiteral("🐕🐈 🎉🎉 👩‍👩‍👧 #sunset @beach "
                       "https://example.com/photos/IMG_20240101_123456.jpg"),
        QStringLiteral("\tindented\nnew line   many   spaces  <mask> filler"),
    };
    std::mt19937 rng(42);
    QStringList texts;
    qint64 bytes = 0;
    while (bytes < qint64(megabytes * 1024 * 1024)) {
        QString caption;
        const int n = 1 + int(rng() % 4);
        for (int i = 0; i < n; ++i)
            caption += pieces[qsizetype(rng() % pieces.size())] + QLatin1Char(' ');
        bytes += caption.toUtf8().size();
        texts << caption;
    }

    // Cold: the BPE cache starts empty. Warm: the same texts again (the steady state of an
    // indexer).
    for (const char *pass : {"cold", "warm"}) {
        QElapsedTimer timer;
        timer.start();
        qint64 tokens = 0;
        for (const QString &t : texts)
            tokens += qint64(tok->encode(t).inputIds.size());
        const double seconds = double(timer.nsecsElapsed()) / 1e9;
        std::printf("%s: %lld texts, %.1f MB, %lld tokens in %.3f s = %.0f tokens/s (%.1f MB/s)\n",
                    pass, static_cast<long long>(texts.size()), double(bytes) / 1048576.0,
                    static_cast<long long>(tokens), seconds, double(tokens) / seconds,
                    double(bytes) / 1048576.0 / seconds);
    }
    return 0;
}
