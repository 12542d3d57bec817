import Foundation
import Testing

/// Every ```swift block of the README and of the DocC articles must appear in this target's
/// sources, so that a block which no longer compiles fails the build, and a block edited in the
/// documentation but not here fails this test.
@Suite("Documentation code blocks compile")
struct CodeBlocksTests {
  static let root = URL(filePath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
  static let examples = URL(filePath: #filePath).deletingLastPathComponent()

  /// The documents whose Swift code blocks are checked: the README and every DocC article.
  static func documents() throws -> [URL] {
    var found = [root.appending(path: "README.md")]
    let modules = root.appending(path: "Modules")
    let enumerator = FileManager.default.enumerator(at: modules, includingPropertiesForKeys: nil)
    while let url = enumerator?.nextObject() as? URL {
      if url.pathExtension == "md", url.path.contains(".docc/") { found.append(url) }
    }
    return found.sorted { $0.path < $1.path }
  }

  /// The fenced ```swift blocks of a Markdown text.
  static func swiftBlocks(in text: String) -> [String] {
    var blocks: [String] = []
    var current: [Substring]?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if current == nil, trimmed == "```swift" {
        current = []
      } else if current != nil, trimmed == "```" {
        blocks.append(current!.joined(separator: "\n"))
        current = nil
      } else if current != nil {
        current!.append(line)
      }
    }
    return blocks
  }

  /// Code as one line of tokens: comments' spacing, line breaks, imports and `@Test` attributes
  /// aside (the formatter may rewrap a line; a README test is compiled but disabled here).
  static func normalized(_ code: String) -> String {
    var text = code.split(separator: "\n")
      .filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("import ") }
      .joined(separator: " ")
      .replacing(#/@Test(\(\.disabled\("[^"]*"\)\))?/#, with: "")
      .split(whereSeparator: \.isWhitespace).joined(separator: " ")
    for (spaced, tight) in [("( ", "("), ("[ ", "["), (" )", ")"), (" ]", "]"), (" ,", ",")] {
      text = text.replacingOccurrences(of: spaced, with: tight)
    }
    return text
  }

  static func exampleSources() throws -> String {
    let files = try FileManager.default.contentsOfDirectory(
      at: examples, includingPropertiesForKeys: nil)
    return try files.filter { $0.pathExtension == "swift" }.sorted { $0.path < $1.path }
      .map { try String(contentsOf: $0, encoding: .utf8) }.joined(separator: "\n")
  }

  @Test("every Swift block of the README and the articles is compiled in this target")
  func everyBlockIsCompiled() throws {
    let sources = try Self.exampleSources()
    let compiled = Self.normalized(sources)
    let imported = Set(
      sources.split(separator: "\n").filter { $0.hasPrefix("import ") }
        .map { $0.dropFirst("import ".count).trimmingCharacters(in: .whitespaces) })
    var checked = 0
    for document in try Self.documents() {
      let name = document.path.replacingOccurrences(of: Self.root.path + "/", with: "")
      let blocks = Self.swiftBlocks(in: try String(contentsOf: document, encoding: .utf8))
      for (index, block) in blocks.enumerated() where !block.contains("import PackageDescription") {
        checked += 1
        let found = compiled.contains(Self.normalized(block))
        #expect(
          found,
          "\(name), Swift block \(index + 1) is not in Tests/DocumentationTests: copy it there so CI compiles it:\n\(block)"
        )
        for line in block.split(separator: "\n") where line.hasPrefix("import ") {
          let module = line.dropFirst("import ".count).trimmingCharacters(in: .whitespaces)
          #expect(imported.contains(module), "\(name) imports \(module); the examples must too")
        }
      }
    }
    #expect(checked >= 8, "found only \(checked) Swift blocks: is the README where it was?")
  }

  @Test("the normalizer ignores line breaks and imports but not tokens")
  func normalizerKeepsTokens() {
    #expect(Self.normalized("import A\nlet x = f(\n  1,\n  2)\n") == "let x = f(1, 2)")
    #expect(Self.normalized("let x = f(1, 2)") != Self.normalized("let x = f(1, 3)"))
    #expect(Self.swiftBlocks(in: "a\n```swift\nlet a = 1\n```\n```sh\nls\n```\n") == ["let a = 1"])
  }
}
