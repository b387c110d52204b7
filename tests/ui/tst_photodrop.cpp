// PhotoDrop (ui/photodrop.h): what a drop holds for the window: folders to add and the photo to
// search with (a local image file first, else image data saved as a PNG), and nothing from data
// that holds neither. The window's handling of each (tst_mainwindow) goes through it.
#include "ui/photodrop.h"

#include <QBuffer>
#include <QDir>
#include <QFileInfo>
#include <QImage>
#include <QMimeData>
#include <QTemporaryDir>
#include <QUrl>
#include <QtTest>

using namespace ts;

namespace {

// The files a drop may name, in a temporary folder: a PNG photo, a text file, a folder.
struct DropFiles {
    QTemporaryDir dir;
    QString photo, secondPhoto, text, folder, secondFolder;
    DropFiles() {
        photo = dir.filePath(QStringLiteral("cat.png"));
        secondPhoto = dir.filePath(QStringLiteral("dog.png"));
        text = dir.filePath(QStringLiteral("notes.txt"));
        folder = dir.filePath(QStringLiteral("holiday"));
        secondFolder = dir.filePath(QStringLiteral("work"));
        QImage image(8, 6, QImage::Format_RGB32);
        image.fill(Qt::red);
        image.save(photo);
        image.save(secondPhoto);
        QFile file(text);
        if (file.open(QIODevice::WriteOnly))
            file.write("not a photo");
        QDir().mkpath(folder);
        QDir().mkpath(secondFolder);
    }
    QString path(const QString &name) const {
        if (name == QLatin1String("photo"))
            return photo;
        if (name == QLatin1String("secondPhoto"))
            return secondPhoto;
        if (name == QLatin1String("text"))
            return text;
        if (name == QLatin1String("folder"))
            return folder;
        if (name == QLatin1String("secondFolder"))
            return secondFolder;
        return dir.filePath(name); // a file that does not exist
    }
};

QByteArray pngBytes(const QColor &colour) {
    QImage image(5, 4, QImage::Format_RGB32);
    image.fill(colour);
    QByteArray bytes;
    QBuffer buffer(&bytes);
    buffer.open(QIODevice::WriteOnly);
    image.save(&buffer, "PNG");
    return bytes;
}

} // namespace

class TestPhotoDrop : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void readsFoldersAndTheFirstPhotoOfUrls_data() {
        QTest::addColumn<QStringList>("dropped"); // names of DropFiles, or a missing file name
        QTest::addColumn<QStringList>("folders");
        QTest::addColumn<QString>("photo");
        QTest::newRow("one photo") << QStringList{"photo"} << QStringList{} << "photo";
        QTest::newRow("the first of two photos")
            << QStringList{"secondPhoto", "photo"} << QStringList{} << "secondPhoto";
        QTest::newRow("folders in their order")
            << QStringList{"secondFolder", "folder"} << QStringList{"secondFolder", "folder"} << "";
        QTest::newRow("a folder and a photo")
            << QStringList{"text", "folder", "photo"} << QStringList{"folder"} << "photo";
        QTest::newRow("a text file is not a photo") << QStringList{"text"} << QStringList{} << "";
        QTest::newRow("a missing file is nothing")
            << QStringList{"gone.png"} << QStringList{} << "";
    }
    void readsFoldersAndTheFirstPhotoOfUrls() {
        QFETCH(QStringList, dropped);
        QFETCH(QStringList, folders);
        QFETCH(QString, photo);
        const DropFiles files;
        QMimeData mime;
        QList<QUrl> urls{QUrl(QStringLiteral("https://example.com/cat.png"))}; // never local
        for (const QString &name : dropped)
            urls.append(QUrl::fromLocalFile(files.path(name)));
        mime.setUrls(urls);
        PhotoDrop drop;
        const PhotoDrop::Contents got = drop.read(&mime);
        QStringList wantFolders;
        for (const QString &name : folders)
            wantFolders << QFileInfo(files.path(name)).absoluteFilePath();
        QCOMPARE(got.folders, wantFolders);
        QCOMPARE(got.photo,
                 photo.isEmpty() ? QString() : QFileInfo(files.path(photo)).absoluteFilePath());
        QCOMPARE(PhotoDrop::canHandle(&mime), !got.isEmpty());
    }

    void savesImageDataAsAPngItCanRead_data() {
        QTest::addColumn<bool>("asImage"); // setImageData, else raw bytes under image/png
        QTest::newRow("image data (a browser's drag)") << true;
        QTest::newRow("PNG bytes under image/png") << false;
    }
    void savesImageDataAsAPngItCanRead() {
        QFETCH(bool, asImage);
        QMimeData mime;
        const QByteArray bytes = pngBytes(QColor(10, 200, 30));
        if (asImage)
            mime.setImageData(QImage::fromData(bytes));
        else
            mime.setData(QStringLiteral("image/png"), bytes);
        QVERIFY(PhotoDrop::canHandle(&mime));
        PhotoDrop drop;
        const PhotoDrop::Contents first = drop.read(&mime);
        const PhotoDrop::Contents second = drop.read(&mime);
        QVERIFY(first.folders.isEmpty());
        QVERIFY(first.photo.endsWith(QStringLiteral(".png")));
        QVERIFY(first.photo != second.photo); // each drop its own file
        const QImage saved(first.photo);
        QCOMPARE(saved.size(), QSize(5, 4));
        QCOMPARE(saved.pixelColor(2, 2), QColor(10, 200, 30));
    }

    void imageDataIsIgnoredBesideAFolder() {
        const DropFiles files;
        QMimeData mime;
        mime.setUrls({QUrl::fromLocalFile(files.folder)});
        mime.setData(QStringLiteral("image/png"), pngBytes(Qt::blue));
        PhotoDrop drop;
        const PhotoDrop::Contents got = drop.read(&mime);
        QCOMPARE(got.folders, QStringList{QFileInfo(files.folder).absoluteFilePath()});
        QVERIFY(got.photo.isEmpty());
    }

    void nothingUsableIsEmpty() {
        QMimeData text;
        text.setText(QStringLiteral("hello"));
        PhotoDrop drop;
        QVERIFY(!PhotoDrop::canHandle(&text));
        QVERIFY(drop.read(&text).isEmpty());
        QVERIFY(!PhotoDrop::canHandle(nullptr));
        QVERIFY(drop.read(nullptr).isEmpty());
    }
};

QTEST_MAIN(TestPhotoDrop)
#include "tst_photodrop.moc"
