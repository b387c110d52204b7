#pragma once

// What the window tests over a real Library share: a Library in a test's temporary folder with
// the fixture model (fixtureengine.h), and a folder of photos indexed to the end. The steps report
// their failure as an Error with the library's message, for the test to QVERIFY2 on.
#include "fixtureengine.h"
#include "indexer/library.h"

#include <QDir>
#include <QSignalSpy>

#include <memory>

namespace ts::test {

// A Library at DIR/library.sqlite (folders not watched: the tests index when they say so), using
// the fixture's model. `options` sets the rest (batch size, ...).
inline Result<std::unique_ptr<Library>> openFixtureLibrary(const QString &dir,
                                                           LibraryOptions options = {}) {
    options.databasePath = QDir(dir).filePath(QStringLiteral("library.sqlite"));
    options.watchFolders = false;
    auto library = Library::open(options);
    if (!library.ok())
        return library.error();
    if (const Status st = (*library)->setPipeline(FixtureEngine::instance().pipeline); !st.ok())
        return st.error();
    return std::move(library.value());
}

// Adds `folder` to the library and indexes it; fails when indexing has not finished in 2 minutes.
inline Status indexFolder(Library &library, const QString &folder) {
    QSignalSpy finished(&library, &Library::indexingFinished);
    if (const Status st = library.addFolder(folder); !st.ok())
        return st;
    library.startIndexing();
    if (!finished.wait(120000))
        return Error(Error::Code::Internal,
                     QStringLiteral("indexing %1 did not finish within 2 minutes").arg(folder));
    return {};
}

} // namespace ts::test
