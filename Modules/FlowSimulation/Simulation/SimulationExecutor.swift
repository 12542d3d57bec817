import Synchronization

/// The serial executor a ``Simulator`` owns: every async body the simulation spawns runs its
/// jobs here, one at a time, on the thread that runs the simulation, in an order drawn from
/// the simulation's seed (DESIGN.md rule 4). Nothing runs here unless the simulator drains it.
public final class SimulationExecutor: TaskExecutor, SerialExecutor {
  // The queue is filled by whichever thread resumes a job (usually the simulation's own), so
  // it is behind a lock; the jobs only run inside `drain`.
  private let jobs = Mutex<[UnownedJob]>([])

  /// An executor with no jobs.
  public init() {}

  /// Queues `job`; it runs at the simulator's next drain.
  public func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    jobs.withLock { $0.append(job) }
  }

  /// This executor as a serial executor.
  public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
    UnownedSerialExecutor(ordinary: self)
  }

  /// This executor as a task executor.
  public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
    UnownedTaskExecutor(ordinary: self)
  }

  /// True when a job waits to run.
  var hasJobs: Bool { jobs.withLock { !$0.isEmpty } }

  /// Runs queued jobs, each time picking one at random with `random`, until none is left;
  /// returns how many ran.
  @discardableResult
  func drain(_ random: inout SimulationRandom) -> Int {
    var ran = 0
    while let job = jobs.withLock({ (queue: inout [UnownedJob]) -> UnownedJob? in
      guard !queue.isEmpty else { return nil }
      let index = queue.count == 1 ? 0 : random.int(below: queue.count)
      queue.swapAt(index, queue.count - 1)
      return queue.removeLast()
    }) {
      job.runSynchronously(
        isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
      ran += 1
    }
    return ran
  }
}
