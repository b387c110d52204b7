#include "core/hub/modellocator.h"

#include "core/common/safetensorsfile.h"
#include "core/model/bridgetowerconfig.h"

#include <QDir>
#include <QFileInfo>

namespace ts {

QString LocalModel::headsText() const {
    QStringList names;
    if (heads & kHeadContrastive)
        names << QStringLiteral("contrastive (search)");
    if (heads & kHeadImageTextMatching)
        names << QStringLiteral("ITM (rerank)");
    if (heads & kHeadMaskedLm)
        names << QStringLiteral("MLM (fill-mask)");
    return names.isEmpty() ? QStringLiteral("none found") : names.join(QStringLiteral(", "));
}

QString LocalModel::note() const {
    if (!usable() || canSearch())
        return {};
    return QStringLiteral(
               "this checkpoint has no contrastive head: it can rerank (ITM) and fill masks (MLM) "
               "but cannot search photos; download %1 for search")
        .arg(QString::fromLatin1(kDefaultModelRepo));
}

QStringList ModelLocator::requiredFiles() {
    return {QStringLiteral("config.json"),
            QStringLiteral("preprocessor_config.json"),
            QStringLiteral("vocab.json"),
            QStringLiteral("merges.txt"),
            QStringLiteral("tokenizer_config.json"),
            QStringLiteral("special_tokens_map.json")};
}

QStringList ModelLocator::weightsFiles() {
    return {QStringLiteral("model.safetensors"), QStringLiteral("pytorch_model.bin")};
}

QStringList ModelLocator::knownRepos() {
    return {QString::fromLatin1(kDefaultModelRepo),
            QStringLiteral("BridgeTower/bridgetower-base-itm-mlm"),
            QStringLiteral("BridgeTower/bridgetower-base"),
            QStringLiteral("BridgeTower/bridgetower-large-itm-mlm")};
}

QString ModelLocator::describeRepo(const QString &repo) {
    if (repo == QLatin1String(kDefaultModelRepo))
        return QStringLiteral(
            "contrastive + ITM + MLM: search, rerank and fill-mask (the default)");
    if (repo.contains(QLatin1String("itm-mlm")) && !repo.contains(QLatin1String("itc")))
        return QStringLiteral("ITM + MLM only: rerank and fill-mask, cannot search");
    return QStringLiteral("no task heads: cannot search, rerank or fill masks");
}

// Heads from the repository name, when the weights cannot be read cheaply (.bin).
static unsigned headsFromName(const QString &name) {
    unsigned heads = kHeadNone;
    if (name.contains(QLatin1String("itc")))
        heads |= kHeadContrastive;
    if (name.contains(QLatin1String("itm")))
        heads |= kHeadImageTextMatching;
    if (name.contains(QLatin1String("mlm")))
        heads |= kHeadMaskedLm;
    return heads;
}

LocalModel ModelLocator::inspect(const QString &directory) {
    LocalModel m;
    m.directory = QDir(directory).absolutePath();
    const QDir dir(m.directory);
    if (!dir.exists()) {
        m.problem = QStringLiteral("%1: folder not found").arg(m.directory);
        return m;
    }
    for (const QString &f : requiredFiles())
        if (!QFileInfo(dir.filePath(f)).isFile())
            m.missingFiles << f;
    for (const QString &w : weightsFiles())
        if (QFileInfo(dir.filePath(w)).isFile()) {
            m.weightsFile = w;
            break;
        }
    if (m.weightsFile.isEmpty())
        m.missingFiles << QStringLiteral("model.safetensors (or pytorch_model.bin)");
    if (!m.missingFiles.isEmpty()) {
        m.problem = QStringLiteral("%1: missing %2")
                        .arg(m.directory, m.missingFiles.join(QStringLiteral(", ")));
        return m;
    }
    const auto config = BridgeTowerConfig::load(dir.filePath(QStringLiteral("config.json")));
    if (!config) {
        m.problem = config.error().message;
        return m;
    }
    if (const Status s = config->validate(); !s) {
        m.problem = s.error().message;
        return m;
    }
    if (m.weightsFile == QLatin1String("model.safetensors")) {
        const auto file = SafetensorsFile::open(dir.filePath(m.weightsFile));
        if (!file) {
            m.problem = file.error().message;
            return m;
        }
        bool itc = false, itm = false, mlm = false;
        for (const TensorView &t : file->tensors()) {
            itc = itc || t.name.starts_with("itc_text_head.");
            itm = itm || t.name.starts_with("itm_score.");
            mlm = mlm || t.name.starts_with("mlm_score.");
        }
        if (itc && config->contrastiveHeadSupport().ok())
            m.heads |= kHeadContrastive;
        if (itm)
            m.heads |= kHeadImageTextMatching;
        if (mlm)
            m.heads |= kHeadMaskedLm;
    } else {
        // A .bin is a pickle; reading its names costs a full parse. The loader tells the truth
        // later.
        QString name = m.directory;
        const qsizetype at = name.indexOf(QLatin1String("/models--"));
        name = at >= 0 ? name.mid(at) : QFileInfo(name).fileName();
        m.heads = headsFromName(name);
    }
    return m;
}

QString ModelLocator::manualInstallHelp(const HubCache &cache, const QString &repo,
                                        const QString &revision) {
    QStringList files = requiredFiles();
    files << QStringLiteral("model.safetensors (or pytorch_model.bin)");
    return QStringLiteral("To install the model by hand, download these files from "
                          "https://huggingface.co/%1/tree/%2 on a "
                          "machine with access:\n  %3\nput them together in one folder, e.g. "
                          "~/models/%4/, and pass that "
                          "folder with --model (or choose it in the app). A copy of a Hugging Face "
                          "cache folder "
                          "(%5/%6) placed under %5 works too.")
        .arg(repo, revision, files.join(QStringLiteral("\n  ")), repo.section(QLatin1Char('/'), -1),
             cache.root(), HubCache::repoFolderName(repo));
}

Result<LocalModel> ModelLocator::find(const QString &userDirectory, const HubCache &cache,
                                      const QString &repo, const QString &revision) {
    if (!userDirectory.isEmpty()) {
        LocalModel m = inspect(userDirectory);
        if (!m.usable())
            return Error(Error::Code::Model, m.problem);
        return m;
    }
    const QString commit = cache.resolveRevision(repo, revision);
    if (commit.isEmpty())
        return Error(Error::Code::NotFound,
                     QStringLiteral("%1@%2 is not in the Hugging Face cache %3; run "
                                    "'towersearch-cli model download %1'")
                         .arg(repo, revision, cache.root()));
    LocalModel m = inspect(cache.snapshotDir(repo, commit));
    m.repo = repo;
    m.commit = commit;
    if (!m.usable())
        return Error(Error::Code::Model,
                     QStringLiteral("%1 (cached %2@%3) is incomplete: %4; run 'towersearch-cli "
                                    "model download %2' to finish it")
                         .arg(m.directory, repo, revision, m.problem));
    return m;
}

QList<LocalModel> ModelLocator::listCached(const HubCache &cache) {
    QList<LocalModel> known, others;
    const QStringList knownList = knownRepos();
    for (const HubCache::Snapshot &s : cache.snapshots()) {
        if (!QFileInfo(QDir(s.directory).filePath(QStringLiteral("config.json"))).isFile())
            continue;
        const bool isKnown = knownList.contains(s.repo);
        // Only BridgeTower checkpoints: other models in a shared cache are not ours to list.
        if (!isKnown && !s.repo.contains(QLatin1String("bridgetower"), Qt::CaseInsensitive))
            continue;
        LocalModel m = inspect(s.directory);
        m.repo = s.repo;
        m.commit = s.commit;
        m.refs = s.refs;
        (isKnown ? known : others) << m;
    }
    return known + others;
}

} // namespace ts
