#include "ui/checkpointfolder.h"

#include "core/hub/hubcache.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>

namespace ts {

namespace {
QString tr(const char *text) {
    return QCoreApplication::translate("ts::CheckpointFolder", text);
}
} // namespace

QString CheckpointFolder::problem(const QString &directory) {
    const QFileInfo info(directory);
    const QString name = QDir::toNativeSeparators(info.absoluteFilePath());
    if (directory.isEmpty())
        return tr("No folder chosen.");
    if (!info.exists())
        return tr("%1 does not exist.").arg(name);
    if (!info.isDir())
        return tr("%1 is a file; choose the folder that holds config.json and the weights.")
            .arg(name);
    const QDir dir(directory);
    if (!dir.exists(QStringLiteral("config.json")))
        return tr("%1 has no config.json: this is not a Hugging Face checkpoint folder.").arg(name);
    QFile config(dir.filePath(QStringLiteral("config.json")));
    if (!config.open(QIODevice::ReadOnly))
        return tr("%1 cannot be read: %2.")
            .arg(QDir::toNativeSeparators(config.fileName()), config.errorString());
    const QJsonDocument doc = QJsonDocument::fromJson(config.read(1 << 20));
    const QString modelType = doc.object().value(QStringLiteral("model_type")).toString();
    if (!doc.isObject())
        return tr("%1 is not valid JSON.").arg(QDir::toNativeSeparators(config.fileName()));
    if (modelType != QLatin1String("bridgetower"))
        return tr("%1 is a \"%2\" checkpoint; TowerSearch needs a BridgeTower model (model_type "
                  "\"bridgetower\").")
            .arg(name, modelType.isEmpty() ? tr("unknown") : modelType);
    const bool hasWeights = dir.exists(QStringLiteral("model.safetensors")) ||
                            dir.exists(QStringLiteral("model.safetensors.index.json")) ||
                            dir.exists(QStringLiteral("pytorch_model.bin")) ||
                            dir.exists(QStringLiteral("pytorch_model.bin.index.json"));
    if (!hasWeights)
        return tr("%1 has no weights (model.safetensors or pytorch_model.bin): the download may be "
                  "incomplete.")
            .arg(name);
    for (const char *file : {"vocab.json", "merges.txt", "preprocessor_config.json"}) {
        if (!dir.exists(QLatin1String(file)))
            return tr("%1 has no %2: the tokenizer or image processor files are missing.")
                .arg(name, QLatin1String(file));
    }
    return {};
}

QStringList CheckpointFolder::huggingFaceCacheRoots() {
    return HubCache::searchRoots();
}

QStringList CheckpointFolder::findInHuggingFaceCache() {
    QList<QFileInfo> found;
    for (const QString &root : HubCache::searchRoots())
        for (const HubCache::Snapshot &snapshot : HubCache(root).snapshots())
            if (snapshot.repo.contains(QLatin1String("bridgetower"), Qt::CaseInsensitive) &&
                problem(snapshot.directory).isEmpty())
                found << QFileInfo(snapshot.directory);
    std::sort(found.begin(), found.end(), [](const QFileInfo &a, const QFileInfo &b) {
        return a.lastModified() > b.lastModified();
    });
    QStringList out;
    for (const QFileInfo &f : found)
        out << f.absoluteFilePath();
    out.removeDuplicates();
    return out;
}

} // namespace ts
