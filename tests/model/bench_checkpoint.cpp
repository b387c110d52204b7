// bench_checkpoint: peak memory and time of reading / converting a large pytorch_model.bin.
//
//   bench_checkpoint [MiB]        generates a synthetic torch.save zip of ~MiB (default 1024) of
//   F32
//                                 tensors in a temporary folder, then measures in child processes:
//   bench_checkpoint read FILE    readTorchZipCheckpoint
//   bench_checkpoint convert FILE OUT   convertTorchBinToSafetensors
// Each child prints wall time and peak RSS (getrusage ru_maxrss) relative to the file size.
#include "core/model/checkpointconverter.h"
#include "core/model/internal/torchzipcheckpoint.h"
#include "torchsavewriter.h"

#include <ATen/ATen.h>

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QProcess>
#include <QTemporaryDir>

#include <sys/resource.h>

#include <cstdio>

namespace {

double peakRssMiB() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_maxrss) / 1024.0; // kilobytes on Linux
}

int generate(const QString &path, qint64 mib) {
    // 16 MiB tensors (4M floats), plus a few small ones, like a real state dict's mix.
    constexpr int64_t kElems = 4 * 1024 * 1024;
    const int count = int(std::max<qint64>(1, mib / 16));
    std::vector<ts::test::TensorSpec> specs;
    for (int i = 0; i < count; ++i)
        specs.push_back({"layer." + std::to_string(i) + ".weight",
                         "FloatStorage",
                         std::to_string(i),
                         kElems,
                         0,
                         {2048, 2048},
                         {2048, 1}});
    const QByteArray pickle = ts::test::stateDictPickle(specs, {}, true);
    std::vector<float> buffer(size_t(kElems), 0.0f);
    caffe2::serialize::PyTorchStreamWriter writer(path.toStdString());
    writer.writeRecord("data.pkl", pickle.constData(), size_t(pickle.size()));
    writer.writeRecord("byteorder", "little", 6);
    for (int i = 0; i < count; ++i) {
        for (int64_t k = 0; k < kElems; k += 1024)
            buffer[size_t(k)] = float(i) + float(k);
        writer.writeRecord("data/" + std::to_string(i), buffer.data(),
                           buffer.size() * sizeof(float));
    }
    writer.writeEndOfFile();
    return count;
}

int child(const QStringList &args) {
    const double baseline = peakRssMiB();
    const QString file = args.value(2);
    const double fileMiB = double(QFileInfo(file).size()) / (1024.0 * 1024.0);
    QElapsedTimer timer;
    timer.start();
    QString what;
    if (args[1] == QLatin1String("read")) {
        auto r = ts::internal::readTorchZipCheckpoint(file);
        if (!r) {
            std::fprintf(stderr, "%s\n", qPrintable(r.error().message));
            return 1;
        }
        what = QStringLiteral("read    (%1 tensors)").arg(r->size());
    } else {
        const ts::Status s = ts::convertTorchBinToSafetensors(file, args.value(3));
        if (!s) {
            std::fprintf(stderr, "%s\n", qPrintable(s.error().message));
            return 1;
        }
        what = QStringLiteral("convert            ");
    }
    const double seconds = double(timer.elapsed()) / 1000.0;
    const double peak = peakRssMiB();
    std::printf("%s: %.2f s (%.0f MiB/s), peak RSS %.0f MiB = baseline %.0f + %.0f MiB = %.2fx the "
                "%.0f MiB file\n",
                qPrintable(what), seconds, fileMiB / seconds, peak, baseline, peak - baseline,
                (peak - baseline) / fileMiB, fileMiB);
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const QStringList args = QCoreApplication::arguments();
    if (args.size() >= 3 &&
        (args[1] == QLatin1String("read") || args[1] == QLatin1String("convert")))
        return child(args);

    const qint64 mib = args.size() >= 2 ? args[1].toLongLong() : 1024;
    QTemporaryDir dir;
    const QString bin = dir.filePath(QStringLiteral("pytorch_model.bin"));
    QElapsedTimer timer;
    timer.start();
    const int count = generate(bin, mib);
    std::printf("generated %s: %d tensors, %.0f MiB in %.1f s\n", qPrintable(bin), count,
                double(QFileInfo(bin).size()) / (1024.0 * 1024.0),
                double(timer.elapsed()) / 1000.0);
    std::fflush(stdout);
    const QString out = dir.filePath(QStringLiteral("model.safetensors"));
    for (const QStringList &childArgs : {QStringList{QStringLiteral("read"), bin},
                                         QStringList{QStringLiteral("convert"), bin, out}}) {
        QProcess p;
        p.setProcessChannelMode(QProcess::ForwardedChannels);
        p.start(QCoreApplication::applicationFilePath(), childArgs);
        if (!p.waitForFinished(-1) || p.exitCode() != 0)
            return 1;
    }
    std::printf("output %.0f MiB\n", double(QFileInfo(out).size()) / (1024.0 * 1024.0));
    return 0;
}
