import FlowCore
import FlowExecutors
import FlowServer
import FlowStoreSQLite
import Foundation

// The server (issue 17): how long the run page of a 10,000-task run and the run list's first
// page over many runs take to render on the server, each beside reading the same records from
// the same SQLite database without rendering them.

/// ms to render the run page of one recorded run of `sizes.serverTasks` independent tasks
/// (store reads, schematic and timeline layout, HTML), beside reading its task runs and
/// transitions alone.
func serverRunPageWorkload(_ sizes: Sizes) async throws -> Figure {
  let (path, remove) = temporarySQLitePath()
  defer { remove() }
  let store = try await SQLiteRunStore.open(path: path)
  let result = try await independentFlow(sizes.serverTasks).run(
    executor: .sequential, recorder: RunRecorder(store: store))
  let server = FlowServer(store: store)
  let id = result.flowRunID
  let page = try await median(sizes.repetitions) {
    let html = try await server.renderRunPage(id: id)
    precondition(html.count > sizes.serverTasks * 100)
  }
  let reads = try await median(sizes.repetitions) {
    let tasks = try await store.taskRuns(flowRunID: id)
    let transitions = try await store.transitions(flowRunID: id)
    precondition(tasks.count == sizes.serverTasks && !transitions.isEmpty)
  }
  await store.close()
  return Figure(value: page * 1000, baseline: reads * 1000)
}

/// ms to render the run list's first page (50 runs, newest first) over `sizes.serverRuns`
/// recorded runs, beside the store's query for the same page.
func serverRunListWorkload(_ sizes: Sizes) async throws -> Figure {
  let (path, remove) = temporarySQLitePath()
  defer { remove() }
  let store = try await SQLiteRunStore.open(path: path)
  let start = Date(timeIntervalSince1970: 1_772_719_629)
  var batch = RunStoreBatch()
  batch.flows = [
    FlowRecord(name: "bench", version: "v1", graphJSON: "{}", parameterSchemaJSON: "{}")
  ]
  for index in 0..<sizes.serverRuns {
    let at = start.addingTimeInterval(Double(index))
    batch.flowRuns.append(
      FlowRunRecord(
        id: UUID(), flowName: index % 10 == 0 ? "other" : "bench", flowVersion: "v1",
        parameters: ["n": "\(index)"], executor: "sequential", host: "bench", processID: 1,
        command: [], scheduledAt: at, startedAt: at, endedAt: at.addingTimeInterval(0.5),
        state: index % 17 == 0 ? "Failed" : "Success", message: nil, heartbeatAt: at))
    if batch.flowRuns.count == 10_000 {
      try await store.write(batch)
      batch = RunStoreBatch()
    }
  }
  try await store.write(batch)
  let server = FlowServer(store: store)
  let page = try await median(sizes.repetitions * 4) {
    let html = try await server.renderRunList()
    precondition(html.contains("data-id="))
  }
  let query = try await median(sizes.repetitions * 4) {
    let runs = try await store.flowRuns(
      FlowRunQuery(limit: 50, staleBefore: start))
    precondition(runs.count == 50)
  }
  await store.close()
  return Figure(value: page * 1000, baseline: query * 1000)
}

let serverWorkloads: [Workload] = [
  Workload(
    key: "server_run_page_ms", unit: "ms", target: .atMost(200),
    baseline: "reading the run's task runs and transitions", measure: serverRunPageWorkload),
  Workload(
    key: "server_run_list_ms", unit: "ms", target: .atMost(50),
    baseline: "the store's query for the same page", measure: serverRunListWorkload),
]
