import FlowCore
import Foundation

/// An agent's decisions, as a value type without I/O: when to claim runs and how many, when
/// to renew its leases, when to give up a run whose lease it can no longer prove (before the
/// store's expiry, so that it never works on a run another agent may hold), and how to stop.
///
/// Times are the agent's own monotonic clock. A lease is believed only until the local time
/// its claim or last renewal was *sent* plus the lease duration minus a safety margin: a reply
/// that arrives late, or a process that was paused, cannot stretch it.
public struct AgentMachine: Sendable {
  /// How the agent behaves.
  public struct Options: Sendable {
    /// The agent's name, recorded with its leases.
    public var agentID: String
    /// At most this many runs at once.
    public var limit: Int
    /// How long a claim or renewal holds a run on the store.
    public var leaseDuration: Duration
    /// How often leases are renewed (a third of the lease by default).
    public var heartbeat: Duration
    /// How often the agent looks for work without a notification.
    public var poll: Duration
    /// A lease is given up this long before it would end on the agent's reckoning.
    public var safetyMargin: Duration

    /// Options; by default 4 runs, a 30 s lease renewed every 10 s, polling every 5 s, giving a
    /// lease up 2 s early.
    public init(
      agentID: String, limit: Int = 4, leaseDuration: Duration = .seconds(30),
      heartbeat: Duration? = nil, poll: Duration = .seconds(5), safetyMargin: Duration = .seconds(2)
    ) {
      self.agentID = agentID
      self.limit = limit
      self.leaseDuration = leaseDuration
      self.heartbeat = heartbeat ?? leaseDuration / 3
      self.poll = poll
      self.safetyMargin = safetyMargin
    }
  }

  /// Something that happened.
  public enum Event: Sendable {
    /// The agent started.
    case start(now: Date)
    /// The timer fired.
    case timer(now: Date)
    /// The store said work is waiting (LISTEN/NOTIFY).
    case notified(now: Date)
    /// The claim sent at `sentAt` returned these leases.
    case claimed([RunLease], sentAt: Date, now: Date)
    /// After a claim that got fewer runs than it asked for, the store said a run becomes
    /// claimable in `delay` (one falls due, or another agent's lease on one runs out): the
    /// agent claims then instead of waiting for its next poll.
    case claimableIn(Duration, now: Date)
    /// The claim failed (the store is unreachable, say); the next poll tries again.
    case claimFailed(now: Date)
    /// The renewal sent at `sentAt` kept `renewed` and lost `lost`.
    case renewed([RunLease], lost: [UUID], sentAt: Date, now: Date)
    /// The renewal failed; the leases hold only until their deadlines.
    case renewFailed(now: Date)
    /// The run ended on this agent under the lease with `epoch` (its final state was written,
    /// or a write was fenced); the end of an older holding of a run claimed again is ignored.
    case runEnded(UUID, epoch: Int64, now: Date)
    /// Cancellation of these runs was requested in the store.
    case cancelRequested([UUID], now: Date)
    /// Stop: take no new work; the runs held finish first.
    case stop(now: Date)
  }

  /// Something to do.
  public enum Action: Sendable, Equatable {
    /// Claim up to `count` due runs for `leaseDuration`, then report `claimed` (or
    /// `claimFailed`). One claim is in flight at a time.
    case claim(count: Int, leaseDuration: Duration)
    /// Run the flow run under `lease`: every write it makes carries the lease's epoch.
    case startRun(RunLease)
    /// Renew these leases for `leaseDuration`, then report `renewed` (or `renewFailed`).
    case renew([RunLease], leaseDuration: Duration)
    /// Stop working on the run at once and write nothing more for it: the lease is lost.
    case abandon(UUID, reason: String)
    /// Give a claimed run back without running it (the agent is full, stopping, or the claim
    /// came too late): release the lease as returned, so that it is claimable again at once.
    /// The store refuses it if the lease is no longer current; either way nothing runs it here.
    case giveBack(RunLease, reason: String)
    /// Cancel the run (cancellation was requested): it ends Cancelled under its lease.
    case cancelRun(UUID)
    /// Wake at `date` and report `timer`.
    case armTimer(Date)
    /// Every run has ended after a stop: the agent may exit.
    case finished
  }

  private struct Held: Sendable {
    var lease: RunLease
    /// After this local time the lease is no longer believed.
    var deadline: Date
    var cancelling = false
  }

  /// The agent's options.
  public let options: Options
  private var held: [UUID: Held] = [:]
  /// When the claim in flight was sent; nil when none is.
  private var claimSentAt: Date?
  /// How many runs the claim in flight asked for.
  private var claimCount = 0
  /// The last claim got all it asked for: more runs are likely waiting, so once half the slots
  /// are free a run's end claims again at once instead of at the next poll.
  private var backlog = false
  private var renewing = false
  private var nextPoll = Date.distantPast
  private var nextRenewal = Date.distantFuture
  private var stopping = false
  private var done = false
  private var armed: Date?

  /// An agent with `options`.
  public init(options: Options) {
    self.options = options
  }

  /// The runs the agent works on, by ID.
  public var heldRuns: Set<UUID> { Set(held.keys) }

  /// Handles `event` and returns the actions to perform, in order.
  public mutating func handle(_ event: Event) -> [Action] {
    guard !done else { return [] }
    var actions: [Action] = []
    let now: Date
    switch event {
    case .start(let at):
      now = at
      nextPoll = at
    case .timer(let at):
      now = at
      if let armed, armed <= at { self.armed = nil }
      // A claim unanswered for as long as its leases could be believed is given up and sent
      // again (its late answer is given back); sending one every poll instead would pile
      // claims up behind a busy database. A renewal unanswered at its next turn is sent again.
      if let sent = claimSentAt, at >= believedUntil(sentAt: sent) { claimSentAt = nil }
      if renewing, at >= nextRenewal { renewing = false }
    case .notified(let at):
      now = at
      nextPoll = min(nextPoll, at)
    case .claimed(let leases, let sentAt, let at):
      now = at
      // The answer to the claim in flight (sent when it was, or a moment later by the shell),
      // not to an earlier one given up.
      if let sent = claimSentAt, sentAt >= sent {
        claimSentAt = nil
        backlog = leases.count >= claimCount
      }
      for lease in leases {
        let deadline = believedUntil(sentAt: sentAt)
        if stopping || held.count >= options.limit || deadline <= at {
          // Not ours to run after all: give it back at once (letting the lease lapse would
          // leave the run Running for a whole lease, then count a crash against it).
          let why = stopping ? "stopping" : deadline <= at ? "too late" : "full"
          actions.append(.giveBack(lease, reason: "claimed while \(why)"))
          continue
        }
        held[lease.runID] = Held(lease: lease, deadline: deadline)
        actions.append(.startRun(lease))
      }
      if !held.isEmpty, nextRenewal == .distantFuture {
        nextRenewal = sentAt.addingTimeInterval(options.heartbeat.timeInterval)
      }
    case .claimableIn(let delay, let at):
      now = at
      // At least a millisecond later: a hint of "now" for a run this agent may not take
      // (another's label) must not turn into claims in a tight loop.
      let due = at.addingTimeInterval(max(delay, .milliseconds(1)).timeInterval)
      nextPoll = min(nextPoll, due)
    case .claimFailed(let at):
      now = at
      claimSentAt = nil
    case .renewed(let leases, let lost, let sentAt, let at):
      now = at
      renewing = false
      let deadline = believedUntil(sentAt: sentAt)
      for lease in leases where held[lease.runID]?.lease.epoch == lease.epoch {
        held[lease.runID]?.lease = lease
        held[lease.runID]?.deadline = deadline
      }
      for id in lost where held.removeValue(forKey: id) != nil {
        actions.append(.abandon(id, reason: "the store no longer holds this agent's lease"))
      }
    case .renewFailed(let at):
      now = at
      renewing = false
    case .runEnded(let id, let epoch, let at):
      now = at
      if held[id]?.lease.epoch == epoch {
        held.removeValue(forKey: id)
        // With a backlog, claim again once half the slots are free (or none is held): one
        // claim then brings several runs instead of one per run's end.
        let free = options.limit - held.count
        if backlog, free >= (options.limit + 1) / 2 || held.isEmpty {
          nextPoll = min(nextPoll, at)
        }
      }
    case .cancelRequested(let ids, let at):
      now = at
      for id in ids where held[id]?.cancelling == false {
        held[id]?.cancelling = true
        actions.append(.cancelRun(id))
      }
    case .stop(let at):
      now = at
      stopping = true
    }
    fence(now: now, into: &actions)
    if stopping, held.isEmpty, claimSentAt == nil {
      done = true
      actions.append(.finished)
      return actions
    }
    if !stopping, claimSentAt == nil, now >= nextPoll, held.count < options.limit {
      claimSentAt = now
      claimCount = options.limit - held.count
      nextPoll = now.addingTimeInterval(options.poll.timeInterval)
      actions.append(
        .claim(count: options.limit - held.count, leaseDuration: options.leaseDuration))
    }
    if held.isEmpty {
      nextRenewal = .distantFuture
    } else if !renewing, now >= nextRenewal {
      renewing = true
      nextRenewal = now.addingTimeInterval(options.heartbeat.timeInterval)
      let leases = held.values.map(\.lease).sorted { $0.runID.uuidString < $1.runID.uuidString }
      actions.append(.renew(leases, leaseDuration: options.leaseDuration))
    }
    arm(now: now, into: &actions)
    return actions
  }

  private func believedUntil(sentAt: Date) -> Date {
    sentAt.addingTimeInterval((options.leaseDuration - options.safetyMargin).timeInterval)
  }

  /// Gives up every run whose lease is no longer believed.
  private mutating func fence(now: Date, into actions: inout [Action]) {
    for (id, run) in held.sorted(by: { $0.key.uuidString < $1.key.uuidString })
    where run.deadline <= now {
      held.removeValue(forKey: id)
      actions.append(.abandon(id, reason: "its lease could not be renewed in time"))
    }
  }

  private mutating func arm(now: Date, into actions: inout [Action]) {
    var wake = held.values.map(\.deadline).min() ?? .distantFuture
    if !held.isEmpty { wake = min(wake, nextRenewal) }
    if let sent = claimSentAt {
      // While the claim is in flight: look again every poll (the next claim waits for its
      // answer), and give it up once its leases could no longer be believed.
      if nextPoll <= now { nextPoll = now.addingTimeInterval(options.poll.timeInterval) }
      wake = min(wake, nextPoll, believedUntil(sentAt: sent))
    } else if !stopping, held.count < options.limit, nextPoll > now {
      wake = min(wake, nextPoll)
    }
    guard wake < .distantFuture else { return }
    if let armed, armed > now, armed <= wake { return }
    armed = wake
    actions.append(.armTimer(wake))
  }
}
