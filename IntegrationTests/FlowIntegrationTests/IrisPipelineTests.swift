import Foundation
import Testing

/// Runs the `iris-pipeline` sample as a real process.
extension SampleSuites {
  @Suite("iris-pipeline sample, end to end", .timeLimit(.minutes(2)))
  struct IrisPipelineTests {
    let sample = SampleProcess(name: "iris-pipeline")

    func temporaryDirectory() -> URL {
      FileManager.default.temporaryDirectory.appendingPathComponent("iris-\(UUID().uuidString)")
    }

    @Test("main-flow runs data-engineer then data-science: 96.67% on the test set")
    func mainFlow() async throws {
      let directory = temporaryDirectory()
      defer { try? FileManager.default.removeItem(at: directory) }
      let output = try await sample.run([], in: directory)
      #expect(output.status == 0, "stderr: \(output.stderr)")
      let log = output.stderr
      #expect(log.contains("| Task 'report_accuracy': Model accuracy on test set: 96.67"))
      #expect(log.contains("Task 'report_accuracy':   versicolor: 9 of 10"))
      #expect(log.contains("Flow run 'main-flow': Success"))
      // data-engineer finished before data-science started.
      let engineered = try #require(
        log.range(
          of: "Task 'data-engineer': Finished task run for task with final state: 'Success'"))
      let science = try #require(log.range(of: "Beginning Flow run for 'data-science'"))
      #expect(engineered.upperBound < science.lowerBound)
      // The outputs are under the default results directory, data/processed.
      let files = try FileManager.default.subpathsOfDirectory(
        atPath: directory.appendingPathComponent("data/processed").path
      ).sorted()
      #expect(files.contains("data-engineer/split_data-ratio0.2-seed2.json"))
      #expect(files.contains("data-engineer/load_data-ratio0.2-seed2.json"))
    }

    @Test(
      "a second run with the same parameters takes the data-engineer outputs from their targets")
    func secondRunIsCached() async throws {
      let directory = temporaryDirectory()
      defer { try? FileManager.default.removeItem(at: directory) }
      let results = directory.appendingPathComponent("results").path
      let first = try await sample.run(["run", "data-engineer", "--results-dir", results])
      #expect(first.status == 0, "stderr: \(first.stderr)")
      #expect(!first.stderr.contains("'Cached'"))
      let second = try await sample.run(["--results-dir", results])
      #expect(second.status == 0, "stderr: \(second.stderr)")
      for task in ["load_data", "get_classes", "encode_categorical_columns", "split_data"] {
        #expect(
          second.stderr.contains(
            "Task '\(task)': Finished task run for task with final state: 'Cached' (Target "
              + "'data-engineer/\(task)-ratio0.2-seed2.json' exists"))
        #expect(!second.stderr.contains("Task '\(task)': Starting task run"))
      }
      #expect(second.stderr.contains("Model accuracy on test set: 96.67"))
    }

    @Test("parameters change the split; data-science alone needs the data-engineer outputs")
    func parameters() async throws {
      let directory = temporaryDirectory()
      defer { try? FileManager.default.removeItem(at: directory) }
      let results = directory.appendingPathComponent("results").path
      let missing = try await sample.run([
        "run", "data-science", "--results-dir", results, "--param", "test_data_ratio=0.4",
      ])
      #expect(missing.status == 1)
      #expect(missing.stderr.contains("run the data-engineer flow with the same parameters first"))
      #expect(missing.stderr.contains("Failing tasks:\n  read_split_data: Failed"))
      // Expected 55 of 60 from an independent Python k-NN over the same shuffle (seed 2).
      let output = try await sample.run([
        "run", "main-flow", "--results-dir", results, "--param", "test_data_ratio=0.4",
        "--log-format", "json",
      ])
      #expect(output.status == 0, "stderr: \(output.stderr)")
      #expect(output.stderr.contains("Model accuracy on test set: 91.67"))
      for line in output.stderr.split(separator: "\n") where line.hasPrefix("{") {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
        #expect(object?["level"] != nil && object?["message"] != nil && object?["flow"] != nil)
      }
    }

    @Test("--param model=centroid trains the nearest-centroid branch; the k-NN branch is skipped")
    func chooseModel() async throws {
      let directory = temporaryDirectory()
      defer { try? FileManager.default.removeItem(at: directory) }
      let output = try await sample.run(
        ["run", "main-flow", "--param", "model=centroid"], in: directory)
      #expect(output.status == 0, "stderr: \(output.stderr)")
      let log = output.stderr
      // Expected 29 of 30 (virginica 9 of 10) from an independent Python nearest-centroid
      // classifier over the same shuffle (seed 2).
      #expect(log.contains("Model accuracy on test set: 96.67"))
      #expect(log.contains("Task 'report_accuracy':   virginica: 9 of 10"))
      #expect(
        log.contains(
          "Task 'train_model': Finished task run for task with final state: 'Skipped' (Branch "
            + "condition when(model == \"knn\") did not hold"))
      #expect(log.contains("Task 'train_centroid_model': Starting task run"))
    }

    @Test("the graph renders without running anything; list shows the flows")
    func graphAndList() async throws {
      let dot = try await sample.run(["visualize", "data-engineer"])
      #expect(dot.status == 0)
      #expect(dot.stdout.hasPrefix("digraph \"data-engineer\" {"))
      #expect(dot.stdout.contains("test_data_ratio: Double"))
      #expect(!dot.stderr.contains("Beginning Flow run"))
      let mermaid = try await sample.run(["visualize", "main-flow", "--format", "mermaid"])
      #expect(mermaid.stdout.hasPrefix("flowchart TD"))
      let list = try await sample.run(["list"])
      #expect(list.stdout.contains("main-flow (default)"))
      #expect(list.stdout.contains("--param test_data_ratio=<Double>  (default 0.2)"))
      #expect(list.stdout.contains("--param split_seed=<Int>  (default 2)"))
    }

    @Test("bad input is a usage error naming the problem")
    func usageErrors() async throws {
      let unknown = try await sample.run(["run", "--param", "ratio=0.3"])
      #expect(unknown.status == 64)
      #expect(unknown.stderr.contains("has no parameter 'ratio'; its parameters are"))
      let value = try await sample.run(["run", "--param", "test_data_ratio=lots"])
      #expect(value.status == 64)
      #expect(value.stderr.contains("expects a value of type Double, and 'lots' is not one"))
      let level = try await sample.run(["run"], environment: ["FLOW_LOG_LEVEL": "loud"])
      #expect(level.status == 64)
      #expect(level.stderr.contains("'loud' is not a log level"))
    }
  }
}
