// bench_memory: peak memory of what a user runs, over a real checkpoint folder.
//
//   bench_memory --model DIR [--photos DIR | --count 16] [--precisions f32,bf16[,int8]] [--threads
//   2]
//
// Runs, one process at a time, under /usr/bin/time -v: `towersearch-cli index` of the photos (12 MP
// JPEGs it generates when --photos is not given), a cold `towersearch-cli search` with rerank, and
// the desktop app (offscreen) started on that library, searching once and reporting its memory
// when idle after the search, each in every precision asked for. Prints the peak RSS
// ("Maximum resident set size") and wall time of each, per precision.
#include "clirun.h"

#include <QColor>
#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QGuiApplication>
#include <QImage>
#include <QPainter>
#include <QRegularExpression>
#include <QTemporaryDir>

#include <algorithm>
#include <cstdio>
#include <random>

namespace {

// A 12 MP photo-like JPEG (gradients, shapes and grain, so it compresses like a photo).
bool writePhoto(const QString &path, int seed) {
    std::mt19937 rng{uint32_t(seed)};
    QImage image(4000, 3000, QImage::Format_RGB32);
    QPainter p(&image);
    QLinearGradient sky(0, 0, 0, 3000);
    sky.setColorAt(0, QColor::fromHsv(int(rng() % 360), 120, 230));
    sky.setColorAt(1, QColor::fromHsv(int(rng() % 360), 200, 90));
    p.fillRect(image.rect(), sky);
    for (int i = 0; i < 40; ++i) {
        p.setBrush(QColor::fromHsv(int(rng() % 360), int(rng() % 256), int(rng() % 256)));
        p.setPen(Qt::NoPen);
        p.drawEllipse(int(rng() % 4000), int(rng() % 3000), 100 + int(rng() % 900),
                      100 + int(rng() % 900));
    }
    p.end();
    for (int y = 0; y < image.height(); ++y) {
        auto *line = reinterpret_cast<QRgb *>(image.scanLine(y));
        for (int x = 0; x < image.width(); ++x) {
            const int n = int(rng() % 17) - 8;
            const QRgb c = line[x];
            line[x] = qRgb(std::clamp(qRed(c) + n, 0, 255), std::clamp(qGreen(c) + n, 0, 255),
                           std::clamp(qBlue(c) + n, 0, 255));
        }
    }
    return image.save(path, "JPG", 90);
}

struct Run {
    int exitCode = -1;
    double peakMiB = 0;
    double seconds = 0;
    QString output;
};

// Runs `program args` under /usr/bin/time -v, with no time limit; the peak RSS comes from time's
// report.
Run timed(const QString &program, const QStringList &args, const QProcessEnvironment &env) {
    QElapsedTimer timer;
    timer.start();
    const ts::test::CliRun cli =
        ts::test::runCli(QStringLiteral("/usr/bin/time"),
                         QStringList{QStringLiteral("-v"), program} + args, -1, env);
    Run r;
    r.seconds = double(timer.elapsed()) / 1000.0;
    r.exitCode = cli.exitCode;
    r.output = cli.out + cli.err;
    const auto m =
        QRegularExpression(QStringLiteral("Maximum resident set size \\(kbytes\\): (\\d+)"))
            .match(cli.err);
    if (m.hasMatch())
        r.peakMiB = m.captured(1).toDouble() / 1024.0;
    return r;
}

// The last lines of a run's own output (time's report left out).
QString lastLines(const QString &text, int n) {
    QStringList lines = text.left(text.indexOf(QLatin1String("\tCommand being timed")))
                            .trimmed()
                            .split(QLatin1Char('\n'));
    return lines.mid(std::max<qsizetype>(0, lines.size() - n)).join(QLatin1Char('\n'));
}

} // namespace

int main(int argc, char **argv) {
    QGuiApplication::setAttribute(Qt::AA_Use96Dpi);
    qputenv("QT_QPA_PLATFORM", "offscreen");
    QGuiApplication app(argc, argv);
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    const QString buildDir =
        QDir(QCoreApplication::applicationDirPath() + QStringLiteral("/../..")).absolutePath();
    QString model, photos, cli = buildDir + QStringLiteral("/app/towersearch-cli"),
                           gui = buildDir + QStringLiteral("/app/towersearch");
    QStringList precisions{QStringLiteral("f32"), QStringLiteral("bf16")};
    int count = 16;
    QString threads = QStringLiteral("2");
    const QStringList args = QCoreApplication::arguments();
    for (int i = 1; i + 1 < args.size(); i += 2) {
        const QString &a = args[i], &v = args[i + 1];
        if (a == QLatin1String("--model"))
            model = v;
        else if (a == QLatin1String("--photos"))
            photos = v;
        else if (a == QLatin1String("--count"))
            count = v.toInt();
        else if (a == QLatin1String("--precisions"))
            precisions = v.split(QLatin1Char(','));
        else if (a == QLatin1String("--threads"))
            threads = v;
        else if (a == QLatin1String("--cli"))
            cli = v;
        else if (a == QLatin1String("--app"))
            gui = v;
        else {
            std::fprintf(stderr, "unknown option %s\n", qPrintable(a));
            return 2;
        }
    }
    if (model.isEmpty()) {
        std::fprintf(stderr, "usage: bench_memory --model DIR [--photos DIR | --count 16] "
                             "[--precisions f32,bf16,int8] "
                             "[--threads 2] [--cli PATH] [--app PATH]\n");
        return 2;
    }
    QTemporaryDir work;
    if (photos.isEmpty()) {
        photos = work.filePath(QStringLiteral("photos"));
        QDir().mkpath(photos);
        for (int i = 0; i < count; ++i)
            if (!writePhoto(QDir(photos).filePath(
                                QStringLiteral("photo-%1.jpg").arg(i, 2, 10, QLatin1Char('0'))),
                            i)) {
                std::fprintf(stderr, "cannot write photos under %s\n", qPrintable(photos));
                return 1;
            }
    }
    const int photoCount = int(QDir(photos).entryList(QDir::Files).size());
    // A private home: the app's settings and caches never touch the user's.
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("HOME"), work.filePath(QStringLiteral("home")));
    env.insert(QStringLiteral("XDG_CONFIG_HOME"), work.filePath(QStringLiteral("home/.config")));
    env.insert(QStringLiteral("XDG_DATA_HOME"), work.filePath(QStringLiteral("home/.local/share")));
    env.insert(QStringLiteral("XDG_CACHE_HOME"), work.filePath(QStringLiteral("home/.cache")));
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    const QString caption = QStringLiteral("a red ball on a blue sky");

    std::printf("bench_memory: model %s, %d photos in %s, %s thread(s)\n", qPrintable(model),
                photoCount, qPrintable(photos), qPrintable(threads));
    std::printf("%-6s %-40s %12s %9s\n", "prec", "task", "peak RSS", "wall");
    int failures = 0;
    auto row = [&](const QString &precision, const char *task, const Run &r,
                   const QString &extra = {}) {
        if (r.exitCode != 0) {
            ++failures;
            std::printf("%-6s %-40s failed (exit %d):\n%s\n", qPrintable(precision), task,
                        r.exitCode, qPrintable(lastLines(r.output, 6)));
            return;
        }
        std::printf("%-6s %-40s %8.0f MiB %8.1fs %s\n", qPrintable(precision), task, r.peakMiB,
                    r.seconds, qPrintable(extra));
    };
    for (const QString &precision : precisions) {
        const QString db =
            work.filePath(QStringLiteral("library-%1/library.sqlite").arg(precision));
        QDir().mkpath(QFileInfo(db).absolutePath());
        QStringList common{QStringLiteral("--model"), model, QStringLiteral("--threads"), threads,
                           QStringLiteral("--db"),    db};
        common << QStringLiteral("--precision") << precision; // never `auto`: bf16 on some CPUs
        row(precision, qPrintable(QStringLiteral("cli index (%1 photos)").arg(photoCount)),
            timed(cli, QStringList{QStringLiteral("index")} + common + QStringList{photos}, env));
        row(precision, "cli search, cold, rerank 16",
            timed(cli,
                  QStringList{QStringLiteral("search")} + common +
                      QStringList{QStringLiteral("--rerank"), QStringLiteral("16"), caption},
                  env));
        if (!QFileInfo(gui).isExecutable()) {
            std::printf("%-6s %-40s not built (%s)\n", qPrintable(precision),
                        "app start + search, then idle", qPrintable(gui));
            continue;
        }
        const Run r = timed(gui,
                            {QStringLiteral("--model"), model, QStringLiteral("--database"), db,
                             QStringLiteral("--precision"), precision,
                             QStringLiteral("--memory-report"), caption},
                            env);
        const auto m = QRegularExpression(QStringLiteral("idle after search: VmRSS (\\d+) KiB"))
                           .match(r.output);
        row(precision, "app start + search, then idle", r,
            m.hasMatch() ? QStringLiteral("(idle after search: %1 MiB)")
                               .arg(m.captured(1).toDouble() / 1024.0, 0, 'f', 0)
                         : QStringLiteral("(no idle report)"));
    }
    return failures == 0 ? 0 : 1;
}
