// Helper process for the kill-and-resume test: indexes FOLDER into DB with the fake embedder,
// logging every embedded path to LOG, each batch slowed down by DELAY_MS. Exit 0 when done, 1 on
// an error. The test kills it (SIGKILL) at random moments.
#include "fakeembedder.h"
#include "indexer/library.h"

#include <QCoreApplication>

#include <cstdio>

using namespace ts;

int main(int argc, char **argv) {
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() < 6) {
        qWarning("usage: tst_indexer_child DB FOLDER LOG DELAY_MS BATCH");
        return 2;
    }
    LibraryOptions options;
    options.databasePath = args[1];
    options.watchFolders = false;
    options.batchSize = args[5].toInt();
    auto lib = Library::open(options);
    if (!lib) {
        qWarning("%s", qPrintable(lib.error().message));
        return 1;
    }
    auto embedder = std::make_shared<test::FakeEmbedder>();
    embedder->logFile = args[3];
    embedder->delayMs = args[4].toInt();
    for (const Status &s : {(*lib)->setEmbedder(embedder), (*lib)->addFolder(args[2])}) {
        if (!s) {
            qWarning("%s", qPrintable(s.error().message));
            return 1;
        }
    }
    int code = 0;
    QObject::connect(lib->get(), &Library::errorOccurred, [&](const QString &m) {
        qWarning("%s", qPrintable(m));
        code = 1;
    });
    QObject::connect(lib->get(), &Library::indexingFinished, &app, [&] { app.exit(code); });
    (*lib)->startIndexing();
    // Tells the test that start-up (loading libraries, opening the catalog) is over.
    std::fputs("indexing\n", stdout);
    std::fflush(stdout);
    return app.exec();
}
