// The search field with the query language (ui/searchfield.h), offscreen, typed as a user types:
// filter tokens become removable chips, in:/camera: complete from the data the window hands in,
// and a malformed token is shown inline and never searched with the filter dropped. Expected
// values are built here from the folders and dates the tests name.
#include "ui/searchfield.h"

#include <QAbstractItemView>
#include <QCompleter>
#include <QDateTime>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QToolButton>
#include <QtTest>

using namespace ts;

namespace {

const QStringList kRoots = {QStringLiteral("/photos")};
const QStringList kFolders = {QStringLiteral("/photos/2019"), QStringLiteral("/photos/2020"),
                              QStringLiteral("/photos/2019/Holidays"),
                              QStringLiteral("/photos/2020/Holidays"),
                              QStringLiteral("/photos/Birthday")};

qint64 localMs(int y, int m, int d) {
    return QDateTime(QDate(y, m, d), QTime(0, 0)).toMSecsSinceEpoch();
}

QStringList chipTexts(const SearchField &field) {
    QStringList out;
    for (QToolButton *b : field.filterChipButtons())
        if (!b->isHidden())
            out.append(b->text());
    return out;
}

} // namespace

class TestSearchField : public QObject {
    Q_OBJECT

    std::unique_ptr<SearchField> m_field;

private Q_SLOTS:
    void init();
    void cleanup();
    void filterTokensBecomeChipsBesideTheCaption();
    void removingAChipSearchesWithoutIt();
    void backspaceAtTheStartRemovesTheLastChip();
    void setTextTurnsEveryFilterIntoAChip();
    void malformedTokenIsShownAndNotSearched_data();
    void malformedTokenIsShownAndNotSearched();
    void folderCompletionInsertsAResolvedChip();
    void cameraCompletionOffersTheLibrarysCameras();
    void escapeClearsChipsToo();
};

void TestSearchField::init() {
    m_field = std::make_unique<SearchField>();
    m_field->setDebounceInterval(50);
    m_field->setFolderNames(FolderNames(kRoots, kFolders));
    m_field->resize(900, 60);
    m_field->show();
    QVERIFY(QTest::qWaitForWindowExposed(m_field.get()));
    m_field->activateWindow();
    m_field->lineEdit()->setFocus();
}

void TestSearchField::cleanup() {
    m_field.reset();
}

void TestSearchField::filterTokensBecomeChipsBesideTheCaption() {
    QSignalSpy query(m_field.get(), &SearchField::queryChanged);
    QTest::keyClicks(m_field->lineEdit(), QStringLiteral("a dog after:2019-06 on a beach -people"));
    // Completed by a space: a chip at once; the token still being typed stays text.
    QCOMPARE(m_field->filterChips(), QStringList{QStringLiteral("after:2019-06")});
    QCOMPARE(chipTexts(*m_field).size(), 1);
    QVERIFY(chipTexts(*m_field).first().startsWith(QStringLiteral("after:2019-06")));
    QCOMPARE(m_field->lineEdit()->text(), QStringLiteral("a dog on a beach -people"));
    QVERIFY(query.wait(2000));
    // After the pause the last token is complete too.
    QCOMPARE(m_field->filterChips(),
             (QStringList{QStringLiteral("after:2019-06"), QStringLiteral("-people")}));
    QCOMPARE(m_field->lineEdit()->text(),
             QStringLiteral("a dog on a beach ")); // typing goes on after the space
    QCOMPARE(query.last().at(0).toString(),
             QStringLiteral("after:2019-06 -people a dog on a beach"));
    const ParsedQuery &q = m_field->parsedQuery();
    QCOMPARE(q.caption, QStringLiteral("a dog on a beach"));
    QCOMPARE(q.filter.takenFromMs, std::optional<qint64>(localMs(2019, 6, 1)));
    QCOMPARE(q.excludedPhrases, QStringList{QStringLiteral("people")});
    QVERIFY(m_field->errorText().isEmpty());
}

void TestSearchField::removingAChipSearchesWithoutIt() {
    QSignalSpy query(m_field.get(), &SearchField::queryChanged);
    QTest::keyClicks(m_field->lineEdit(), QStringLiteral("cake in:Birthday type:jpeg "));
    QCOMPARE(m_field->filterChips(),
             (QStringList{QStringLiteral("in:Birthday"), QStringLiteral("type:jpeg")}));
    QVERIFY(query.wait(2000));
    QCOMPARE(m_field->parsedQuery().filter.folders,
             QStringList{QStringLiteral("/photos/Birthday")});
    const int before = int(query.count());
    QTest::mouseClick(m_field->filterChipButtons().first(), Qt::LeftButton); // its ×
    QCOMPARE(query.count(), before + 1);                                     // at once
    QCOMPARE(m_field->filterChips(), QStringList{QStringLiteral("type:jpeg")});
    QVERIFY(m_field->parsedQuery().filter.folders.isEmpty());
    QCOMPARE(m_field->parsedQuery().filter.fileTypes, QStringList{QStringLiteral("jpeg")});
    QCOMPARE(m_field->parsedQuery().caption, QStringLiteral("cake"));
}

void TestSearchField::backspaceAtTheStartRemovesTheLastChip() {
    QSignalSpy query(m_field.get(), &SearchField::queryChanged);
    QTest::keyClicks(m_field->lineEdit(), QStringLiteral("is:portrait sort:date sunset"));
    QCOMPARE(m_field->filterChips(),
             (QStringList{QStringLiteral("is:portrait"), QStringLiteral("sort:date")}));
    m_field->lineEdit()->setCursorPosition(0);
    QTest::keyClick(m_field->lineEdit(), Qt::Key_Backspace);
    QCOMPARE(m_field->filterChips(), QStringList{QStringLiteral("is:portrait")});
    QCOMPARE(m_field->parsedQuery().sort, SortOrder::Relevance);
    QCOMPARE(m_field->parsedQuery().filter.shape, PhotoShape::Portrait);
    QCOMPARE(m_field->lineEdit()->text(), QStringLiteral("sunset"));
}

void TestSearchField::setTextTurnsEveryFilterIntoAChip() {
    QSignalSpy query(m_field.get(), &SearchField::queryChanged);
    m_field->setText(QStringLiteral("cat in:/photos/2020 is:square camera:\"EOS 5D\""));
    QCOMPARE(m_field->filterChips(),
             (QStringList{QStringLiteral("in:/photos/2020"), QStringLiteral("is:square"),
                          QStringLiteral("camera:\"EOS 5D\"")}));
    QCOMPARE(m_field->lineEdit()->text(), QStringLiteral("cat"));
    QVERIFY(query.wait(2000));
    QCOMPARE(m_field->parsedQuery().filter.cameras, QStringList{QStringLiteral("EOS 5D")});
    QCOMPARE(m_field->parsedQuery().filter.folders, QStringList{QStringLiteral("/photos/2020")});
}

void TestSearchField::malformedTokenIsShownAndNotSearched_data() {
    QTest::addColumn<QString>("typed");
    QTest::addColumn<QString>("token");
    QTest::addColumn<QString>("mentions");
    QTest::newRow("day-month-year") << "beach after:13-2020"
                                    << "after:13-2020"
                                    << "YYYY-MM-DD";
    QTest::newRow("unknown folder") << "beach in:Zanzibar"
                                    << "in:Zanzibar"
                                    << "/photos";
    QTest::newRow("ambiguous folder") << "beach in:Holidays"
                                      << "in:Holidays"
                                      << "in:2019/Holidays";
    QTest::newRow("typo of a key") << "beach afer:2019"
                                   << "afer:2019"
                                   << "after:";
    QTest::newRow("second after beside a chip") << "beach after:2019 after:2020"
                                                << "after:2020"
                                                << "twice";
    QTest::newRow("before earlier than the after chip") << "after:2020 beach before:2019"
                                                        << "before:2019"
                                                        << "after:2020";
}

void TestSearchField::malformedTokenIsShownAndNotSearched() {
    QFETCH(QString, typed);
    QFETCH(QString, token);
    QFETCH(QString, mentions);
    QSignalSpy query(m_field.get(), &SearchField::queryChanged);
    QTest::keyClicks(m_field->lineEdit(), typed);
    QTest::keyClick(m_field->lineEdit(), Qt::Key_Return);
    QCOMPARE(query.count(), 0); // no search with the filter dropped
    QVERIFY(!query.wait(300));  // nor after the pause
    const QString error = m_field->errorText();
    QVERIFY2(error.startsWith(token), qPrintable(error));
    QVERIFY2(error.contains(mentions), qPrintable(error));
    QVERIFY(m_field->findChild<QLabel *>()->isVisible());
    // The bad token stays where the user can fix it, not in a chip.
    QVERIFY2(m_field->lineEdit()->text().contains(token), qPrintable(m_field->lineEdit()->text()));
    QVERIFY(!m_field->filterChips().contains(token));
    // Deleting it runs the search and hides the message.
    for (qsizetype i = 0; i < token.size(); ++i)
        QTest::keyClick(m_field->lineEdit(), Qt::Key_Backspace);
    QTest::keyClick(m_field->lineEdit(), Qt::Key_Return);
    QCOMPARE(query.count(), 1);
    QVERIFY(m_field->errorText().isEmpty());
    QCOMPARE(m_field->parsedQuery().caption, QStringLiteral("beach"));
}

void TestSearchField::folderCompletionInsertsAResolvedChip() {
    QSignalSpy query(m_field.get(), &SearchField::queryChanged);
    QTest::keyClicks(m_field->lineEdit(), QStringLiteral("sea in:hol"));
    const QStringList offered{QStringLiteral("in:2019/Holidays"),
                              QStringLiteral("in:2020/Holidays")};
    QCOMPARE(m_field->completionsAtCursor(), offered);
    QAbstractItemView *popup = m_field->completer()->popup();
    QTRY_VERIFY(popup->isVisible());
    QCOMPARE(popup->model()->rowCount(), 2);
    QTest::keyClick(popup, Qt::Key_Down);
    QTest::keyClick(popup, Qt::Key_Down);
    QTest::keyClick(popup, Qt::Key_Return);
    QCOMPARE(m_field->filterChips(), QStringList{QStringLiteral("in:2020/Holidays")});
    QCOMPARE(m_field->lineEdit()->text().trimmed(), QStringLiteral("sea"));
    QVERIFY(query.wait(2000));
    QCOMPARE(m_field->parsedQuery().filter.folders,
             QStringList{QStringLiteral("/photos/2020/Holidays")});
}

void TestSearchField::cameraCompletionOffersTheLibrarysCameras() {
    // Most used first, as Library::cameras() gives them.
    m_field->setCameras({QStringLiteral("Apple iPhone 12"), QStringLiteral("Canon EOS 5D"),
                         QStringLiteral("Canon PowerShot"), QStringLiteral("Nikon D750")});
    QTest::keyClicks(m_field->lineEdit(), QStringLiteral("camera:can"));
    QCOMPARE(m_field->completionsAtCursor(),
             (QStringList{QStringLiteral("camera:\"Canon EOS 5D\""),
                          QStringLiteral("camera:\"Canon PowerShot\"")}));
    QTest::keyClick(m_field->lineEdit(), Qt::Key_Backspace);
    QTest::keyClick(m_field->lineEdit(), Qt::Key_Backspace);
    QTest::keyClick(m_field->lineEdit(), Qt::Key_Backspace);
    QTest::keyClicks(m_field->lineEdit(), QStringLiteral("\"o"));
    // Containing matches follow: "o" is in Canon (twice) and in Nikon, not at the start of any.
    QCOMPARE(m_field->completionsAtCursor(),
             (QStringList{QStringLiteral("camera:\"Apple iPhone 12\""),
                          QStringLiteral("camera:\"Canon EOS 5D\""),
                          QStringLiteral("camera:\"Canon PowerShot\""),
                          QStringLiteral("camera:\"Nikon D750\"")}));
    // Caption words offer nothing.
    m_field->lineEdit()->setText(QStringLiteral("a dog"));
    QVERIFY(m_field->completionsAtCursor().isEmpty());
}

void TestSearchField::escapeClearsChipsToo() {
    QSignalSpy query(m_field.get(), &SearchField::queryChanged);
    QTest::keyClicks(m_field->lineEdit(), QStringLiteral("after:2019 dog"));
    QCOMPARE(m_field->filterChips().size(), 1);
    QTest::keyClick(m_field->lineEdit(), Qt::Key_Escape);
    QVERIFY(m_field->filterChips().isEmpty());
    QCOMPARE(m_field->text(), QString());
    QVERIFY(!query.isEmpty());
    QVERIFY(m_field->parsedQuery().filter.isEmpty());
}

QTEST_MAIN(TestSearchField)
#include "tst_searchfield.moc"
