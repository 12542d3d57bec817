import FlowCore
import FlowExecutors
import FlowResults
import Foundation

/// The Iris data as read: four measurements and a species per flower.
struct IrisData: Codable, Sendable {
  let features: [[Double]]
  let species: [String]
}

/// The data with the species encoded as class indices.
struct EncodedData: Codable, Sendable {
  let features: [[Double]]
  let labels: [Int]
}

/// Train and test rows.
struct SplitData: Codable, Sendable {
  let trainFeatures: [[Double]]
  let trainLabels: [Int]
  let testFeatures: [[Double]]
  let testLabels: [Int]
}

/// A k-nearest-neighbours classifier: it keeps the training rows.
struct NearestNeighbours: Codable, Sendable {
  let k: Int
  let features: [[Double]]
  let labels: [Int]

  /// The majority class of the `k` nearest training rows (Euclidean); a tie goes to the tied
  /// class with the nearest row.
  func predict(_ row: [Double]) -> Int {
    let nearest = features.indices.map { index in
      (
        distance: zip(row, features[index]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) },
        index: index
      )
    }
    .sorted { ($0.distance, $0.index) < ($1.distance, $1.index) }
    .prefix(k)
    var votes: [Int: Int] = [:]
    for neighbour in nearest { votes[labels[neighbour.index], default: 0] += 1 }
    let best = votes.values.max() ?? 0
    return nearest.first { votes[labels[$0.index]] == best }.map { labels[$0.index] } ?? 0
  }
}

/// A nearest-centroid classifier: the mean of each class's training rows.
struct NearestCentroid: Codable, Sendable {
  let centroids: [[Double]]

  /// The class whose centroid is nearest (Euclidean); a tie goes to the lower class index.
  func predict(_ row: [Double]) -> Int {
    let distances = centroids.map { centroid in
      zip(row, centroid).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
    }
    return distances.indices.min { (distances[$0], $0) < (distances[$1], $1) } ?? 0
  }
}

/// The model the `model` parameter chose: k nearest neighbours or nearest centroid.
enum IrisClassifier: Codable, Sendable {
  case neighbours(NearestNeighbours)
  case centroid(NearestCentroid)

  /// The predicted class of `row`.
  func predict(_ row: [Double]) -> Int {
    switch self {
    case .neighbours(let model): model.predict(row)
    case .centroid(let model): model.predict(row)
    }
  }
}

/// A row of the CSV that cannot be read, with its line number.
struct IrisFormatError: Error, CustomStringConvertible {
  let line: Int
  let reason: String
  var description: String { line > 0 ? "iris data, line \(line): \(reason)" : reason }
}

/// Reads the CSV: four numbers and a species per line, after the header.
let loadData = task("load_data") { (path: String) throws -> IrisData in
  let text = try String(contentsOfFile: path, encoding: .utf8)
  let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
  guard lines.first == "sepal_length,sepal_width,petal_length,petal_width,species" else {
    throw IrisFormatError(line: 1, reason: "unexpected header \(lines.first ?? "(empty file)")")
  }
  var features: [[Double]] = []
  var species: [String] = []
  for (offset, line) in lines.dropFirst().enumerated() {
    let fields = line.split(separator: ",", omittingEmptySubsequences: false)
    let numbers = fields.prefix(4).compactMap { Double($0) }
    guard fields.count == 5, numbers.count == 4 else {
      throw IrisFormatError(line: offset + 2, reason: "expected 4 numbers and a species: \(line)")
    }
    features.append(numbers)
    species.append(String(fields[4]))
  }
  return IrisData(features: features, species: species)
}

/// The species names, sorted: class `i` is `classes[i]`.
let getClasses = task("get_classes") { (data: IrisData) in Array(Set(data.species)).sorted() }

/// Replaces each species by its class index.
let encodeCategoricalColumns = task("encode_categorical_columns") {
  (data: IrisData, classes: [String]) -> EncodedData in
  let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
  return EncodedData(features: data.features, labels: data.species.map { index[$0]! })
}

/// Shuffles the rows with `seed` and keeps `ratio` of them (rounded) for testing.
let splitData = task("split_data") {
  (data: EncodedData, ratio: Double, seed: Int) throws -> SplitData in
  guard ratio > 0 && ratio < 1 else {
    throw IrisFormatError(line: 0, reason: "test_data_ratio must be between 0 and 1, got \(ratio)")
  }
  let order = shuffled(data.labels.count, seed: seed)
  let testCount = Int((Double(order.count) * ratio).rounded())
  let test = order.prefix(testCount)
  let train = order.dropFirst(testCount)
  return SplitData(
    trainFeatures: train.map { data.features[$0] }, trainLabels: train.map { data.labels[$0] },
    testFeatures: test.map { data.features[$0] }, testLabels: test.map { data.labels[$0] })
}

/// `0..<count` shuffled (Fisher–Yates, SplitMix64 from `seed`): the same seed, the same order.
func shuffled(_ count: Int, seed: Int) -> [Int] {
  var order = Array(0..<count)
  var state = UInt64(bitPattern: Int64(seed))
  var position = count - 1
  while position > 0 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    let other = Int(z.multipliedFullWidth(by: UInt64(position + 1)).high)
    order.swapAt(position, other)
    position -= 1
  }
  return order
}

/// Where the data-engineer outputs live in the results directory, for one set of parameters.
func processedLocation(_ task: String, ratio: String, seed: String) -> String {
  "data-engineer/\(task)-ratio\(ratio)-seed\(seed).json"
}

/// Builds the three flows over the results directory `directory`.
func makeIrisFlows(dataPath: String, resultsDirectory: String) -> [Flow] {
  let store = LocalResultStore(path: resultsDirectory)
  let target = processedLocation(
    "{task_name}", ratio: "{parameters[test_data_ratio]}", seed: "{parameters[split_seed]}")
  let dataEngineer = Flow("data-engineer") {
    let path = Parameter("data-path", default: dataPath)
    let ratio = Parameter("test_data_ratio", default: 0.2)
    let seed = Parameter("split_seed", default: 2)
    let data = loadData.checkpoint(to: store, target: target)(path)
    let classes = getClasses.checkpoint(to: store, target: target)(data)
    let encoded = encodeCategoricalColumns.checkpoint(to: store, target: target)(data, classes)
    splitData.checkpoint(to: store, target: target)(encoded, ratio, seed)
  }

  /// Reads a data-engineer output back by its location.
  func readProcessed<T: Codable & Sendable>(_ type: T.Type, _ task: String) -> TaskDefinition<
    Double, Int, T
  > {
    TaskDefinition("read_\(task)") { (ratio: Double, seed: Int) throws -> T in
      let location = processedLocation(task, ratio: "\(ratio)", seed: "\(seed)")
      do {
        return try store.read(T.self, at: location)
      } catch {
        throw IrisFormatError(
          line: 0,
          reason:
            "no \(task) output at '\(location)' in \(store.description) (\(error)); run the "
            + "data-engineer flow with the same parameters first")
      }
    }
  }
  let readSplit = readProcessed(SplitData.self, "split_data")
  let readClasses = readProcessed([String].self, "get_classes")
  let train = task("train_model") { (split: SplitData, k: Int) throws -> IrisClassifier in
    guard k >= 1 && k <= split.trainLabels.count else {
      throw IrisFormatError(line: 0, reason: "n_neighbors must be between 1 and the train size")
    }
    return .neighbours(
      NearestNeighbours(k: k, features: split.trainFeatures, labels: split.trainLabels))
  }
  let trainCentroid = task("train_centroid_model") { (split: SplitData) -> IrisClassifier in
    let classes = (split.trainLabels.max() ?? -1) + 1
    var sums = Array(repeating: [0.0, 0.0, 0.0, 0.0], count: classes)
    var counts = Array(repeating: 0, count: classes)
    for (row, label) in zip(split.trainFeatures, split.trainLabels) {
      for column in row.indices { sums[label][column] += row[column] }
      counts[label] += 1
    }
    return .centroid(
      NearestCentroid(
        centroids: zip(sums, counts).map { sum, count in sum.map { $0 / Double(max(1, count)) } }
      ))
  }
  let predict = task("predict") { (model: IrisClassifier, split: SplitData) -> [Int] in
    split.testFeatures.map(model.predict)
  }
  let reportAccuracy = task("report_accuracy", logStdout: true) {
    (predicted: [Int], split: SplitData, classes: [String]) -> Double in
    let correct = zip(predicted, split.testLabels).filter { $0 == $1 }.count
    let accuracy = 100 * Double(correct) / Double(max(1, predicted.count))
    print("Model accuracy on test set: \(String(format: "%.2f", accuracy))")
    for (index, name) in classes.enumerated() {
      let total = split.testLabels.filter { $0 == index }.count
      let right = zip(predicted, split.testLabels).filter { $0 == index && $1 == index }.count
      print("  \(name): \(right) of \(total)")
    }
    return accuracy
  }
  let dataScience = Flow("data-science") {
    let ratio = Parameter("test_data_ratio", default: 0.2)
    let seed = Parameter("split_seed", default: 2)
    let neighbours = Parameter("n_neighbors", default: 5)
    let kind = Parameter("model", default: "knn")
    let split = readSplit(ratio, seed)
    let classes = readClasses(ratio, seed)
    // The `model` parameter chooses the classifier: only the chosen branch trains.
    let model = merge(
      when(kind, equals: "knn") { train(split, neighbours) },
      when(kind, equals: "centroid") { trainCentroid(split) })
    reportAccuracy(predict(model, split), split, classes)
  }
  let mainFlow = Flow("main-flow") {
    _ = Parameter("data-path", default: dataPath)
    _ = Parameter("test_data_ratio", default: 0.2)
    _ = Parameter("split_seed", default: 2)
    _ = Parameter("n_neighbors", default: 5)
    _ = Parameter("model", default: "knn")
    let engineering = dataEngineer.runTask("data-engineer")()
    dataScience.runTask("data-science")().after(engineering)
  }
  return [mainFlow, dataEngineer, dataScience]
}
