// towersearch-cli duplicates: groups of near-duplicate photos (the same photo resized, re-encoded,
// cropped a little or converted), largest group first; files are not touched.
// --json schema (stable): {"database": str, "model": str|null, "threshold": float,
//   "groups": [{"photos": [{"id": int, "path": str, "similarity": float (to the group's first
//   photo, its representative: 1), "size": int (bytes), "width": int, "height": int,
//   "taken": ISO-8601|null, "modified": ISO-8601}]}]}
#include "clicommand.h"
#include "jsonoutput.h"
#include "libraryoptions.h"
#include "modeloptions.h"

#include "core/search/duplicates.h"

#include <QLocale>

#include <cmath>

namespace ts::cli {

namespace {

// --threshold: a cosine similarity above 0 and at most 1, the default without the flag.
Result<float> readThreshold(const QCommandLineParser &parser, const QCommandLineOption &threshold) {
    if (!parser.isSet(threshold))
        return kDefaultDuplicateThreshold;
    bool ok = false;
    const double value = parser.value(threshold).toDouble(&ok);
    if (!ok || !std::isfinite(value) || value <= 0.0 || value > 1.0)
        return Error(Error::Code::InvalidArgument,
                     QStringLiteral("--threshold needs a number above 0 and at most 1 (got '%1')")
                         .arg(parser.value(threshold)));
    return float(value);
}

nlohmann::json dateJson(const QDateTime &d) {
    return d.isValid() ? toJson(d.toUTC().toString(Qt::ISODate)) : nlohmann::json(nullptr);
}

void printGroupsJson(const std::vector<DuplicatePhotos> &groups, const Library &lib,
                     float threshold) {
    nlohmann::json jg = nlohmann::json::array();
    for (const DuplicatePhotos &g : groups) {
        nlohmann::json photos = nlohmann::json::array();
        for (size_t i = 0; i < g.photos.size(); ++i) {
            const PhotoRecord &p = g.photos[i];
            photos.push_back({{"id", p.id},
                              {"path", toJson(p.path)},
                              {"similarity", g.similarity[i]},
                              {"size", p.size},
                              {"width", p.width},
                              {"height", p.height},
                              {"taken", p.taken ? dateJson(*p.taken) : nlohmann::json(nullptr)},
                              {"modified", dateJson(p.modified)}});
        }
        jg.push_back({{"photos", photos}});
    }
    const QString model = lib.stats().modelKey;
    printJson({{"database", toJson(lib.databasePath())},
               {"model", model.isEmpty() ? nlohmann::json(nullptr) : toJson(model)},
               {"threshold", threshold},
               {"groups", jg}});
}

// One line per photo: "similarity  size  WxH  date  path", groups separated by a blank line.
void printGroupsText(const std::vector<DuplicatePhotos> &groups, float threshold) {
    const QLocale c = QLocale::c();
    for (size_t gi = 0; gi < groups.size(); ++gi) {
        const DuplicatePhotos &g = groups[gi];
        out(QStringLiteral("%1group %2: %3 photos\n")
                .arg(gi ? QStringLiteral("\n") : QString())
                .arg(gi + 1)
                .arg(g.photos.size()));
        for (size_t i = 0; i < g.photos.size(); ++i) {
            const PhotoRecord &p = g.photos[i];
            const QDateTime when = p.taken ? *p.taken : p.modified;
            out(QStringLiteral("  %1  %2  %3  %4  %5\n")
                    .arg(double(g.similarity[i]), 0, 'f', 4)
                    .arg(c.formattedDataSize(p.size, 1, QLocale::DataSizeTraditionalFormat), 9)
                    .arg(QStringLiteral("%1x%2").arg(p.width).arg(p.height), 11)
                    .arg(when.isValid() ? when.toString(QStringLiteral("yyyy-MM-dd hh:mm"))
                                        : QStringLiteral("-"))
                    .arg(printablePath(p.path)));
        }
    }
    if (groups.empty())
        out(QStringLiteral("no near-duplicates at threshold %1\n").arg(double(threshold)));
}

} // namespace

static int runDuplicates(const QStringList &args) {
    QCommandLineParser parser;
    ModelOptions common;
    LibraryCliOptions library;
    common.addTo(parser);
    library.addTo(parser);
    const QCommandLineOption threshold(
        QStringLiteral("threshold"),
        QStringLiteral("Cosine similarity from which two photos are near-duplicates, above 0 and "
                       "at most 1 (default %1).")
            .arg(double(kDefaultDuplicateThreshold)),
        QStringLiteral("T"));
    parser.addOption(threshold);
    if (int code = parseOrExit(
            parser, args,
            QStringLiteral(
                "List groups of near-duplicate photos, largest first (files are not touched)."));
        code >= 0)
        return code;
    const QString command = QStringLiteral("duplicates");
    if (!parser.positionalArguments().isEmpty())
        return usageError(command, QStringLiteral("takes no arguments (got '%1')")
                                       .arg(parser.positionalArguments().first()));
    const Result<float> t = readThreshold(parser, threshold);
    if (!t)
        return usageError(command, t.error().message);
    int exitCode = kExitOk;
    auto lib = library.open(parser, command, exitCode);
    if (!lib)
        return exitCode;
    // With a model, its vectors are compared; else the model that serves search.
    if (const auto stop = useGivenModel(parser, common, *lib, command))
        return *stop;
    auto groups = lib->findDuplicates(*t);
    if (!groups)
        return reportError(groups.error());
    if (parser.isSet(common.json))
        printGroupsJson(*groups, *lib, *t);
    else
        printGroupsText(*groups, *t);
    return kExitOk;
}

CliCommand duplicatesCommand() {
    return {QStringLiteral("duplicates"), QStringLiteral("List groups of near-duplicate photos."),
            runDuplicates};
}

} // namespace ts::cli
