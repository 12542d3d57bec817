import Foundation
import Testing

/// The `Package.swift` examples of the README and the articles: each must be a manifest that
/// SwiftPM loads, and name only products this package has.
@Suite("Documentation Package.swift examples")
struct PackageManifestTests {
  static func manifests() throws -> [(document: String, manifest: String)] {
    try CodeBlocksTests.documents().flatMap { document in
      CodeBlocksTests.swiftBlocks(in: try String(contentsOf: document, encoding: .utf8))
        .filter { $0.contains("import PackageDescription") }
        .map { (document.lastPathComponent, $0) }
    }
  }

  /// The products this package declares, read from its own manifest.
  static func ourProducts() throws -> Set<String> {
    let manifest = try String(
      contentsOf: CodeBlocksTests.root.appending(path: "Package.swift"), encoding: .utf8)
    let names = manifest.matches(of: #/\.(?:library|executable)\(name: "([^"]+)"/#)
    return Set(names.map { String($0.output.1) })
  }

  @Test("the README and the articles each show a Package.swift that uses our products")
  func manifestsNameOurProducts() throws {
    let manifests = try Self.manifests()
    #expect(manifests.contains { $0.document == "README.md" })
    let products = try Self.ourProducts()
    #expect(products.contains("FlowCore"))
    for (document, manifest) in manifests {
      let used = manifest.matches(of: #/\.product\(name: "([^"]+)", package: "swift-flow"\)/#)
      #expect(!used.isEmpty, "\(document): the manifest uses no swift-flow product")
      for name in used.map({ String($0.output.1) }) {
        #expect(products.contains(name), "\(document) names product \(name), which we don't have")
      }
    }
  }

  @Test("each Package.swift example is a manifest SwiftPM loads", .timeLimit(.minutes(2)))
  func manifestsLoad() async throws {
    for (document, manifest) in try Self.manifests() {
      let directory = FileManager.default.temporaryDirectory
        .appending(path: "flow-manifest-\(ProcessInfo.processInfo.processIdentifier)-\(document)")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      // SwiftPM leaves a lock file named after the scratch path in the temporary directory.
      let lock = FileManager.default.temporaryDirectory.appending(
        path: (directory.path + "/.build").replacing("/", with: "_") + ".lock")
      defer {
        try? FileManager.default.removeItem(at: directory)
        try? FileManager.default.removeItem(at: lock)
      }
      try manifest.write(
        to: directory.appending(path: "Package.swift"), atomically: true, encoding: .utf8)
      let (status, text) = await Self.dumpPackage(in: directory)
      #expect(status == 0, "\(document): the Package.swift example: \(text)")
    }
  }

  /// Runs `swift package dump-package` in `directory` on a Dispatch thread, so the seconds it
  /// takes hold none of the cooperative threads that the other tests run on.
  static func dumpPackage(in directory: URL) async -> (status: Int32, output: String) {
    await withCheckedContinuation { continuation in
      DispatchQueue.global().async {
        let process = Process()
        process.executableURL = URL(filePath: "/usr/bin/env")
        process.arguments = ["swift", "package", "dump-package"]
        process.currentDirectoryURL = directory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
          try process.run()
        } catch {
          continuation.resume(returning: (-1, "\(error)"))
          return
        }
        let text = String(
          decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        continuation.resume(returning: (process.terminationStatus, text))
      }
    }
  }
}
