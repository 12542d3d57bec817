/// The search for a cron expression's next fire time, step for step the algorithm of cronsim
/// 2.8, but jumping over whole runs of steps with bit sets where the UTC offset does not change.
///
/// The cursor is a local wall-clock time in seconds with a PEP 495 `fold`. For wall-clock
/// expressions (``CronExpression/usesWallClock``) it moves as a naive local time and is
/// converted to an instant once at the end (a skipped time moves to the first minute after the
/// gap; a repeated one takes its first occurrence). Otherwise every step moves the instant and
/// reads the local time back, as Python's aware `datetime` arithmetic does; setting a field (to
/// midnight, to minute 0) sets the wall-clock time and keeps the fold, as `replace` does.
struct CronSearch {
  private let matcher: CronMatcher
  private let wallClock: Bool
  private var zone: ZoneCursor
  private var local: Int64 = 0
  private var fold = false

  init(expression: CronExpression, zone: ZoneCursor) {
    matcher = expression.matcher
    wallClock = expression.usesWallClock
    self.zone = zone
  }

  /// The first fire time strictly after the instant `after` (UTC seconds, fractions dropped),
  /// or nil when none comes within 50 years.
  mutating func next(after: Int64) -> Int64? {
    (local, fold) = zone.local(at: after)
    if wallClock { fold = false }
    // A wall-clock time repeated by a change of offset runs once, at its first occurrence:
    // searching from inside the second occurrence must not go back before `after`.
    for _ in 0..<1_000 {
      guard let instant = advance() else { return nil }
      if instant > after { return instant }
    }
    return nil
  }

  /// One step of cronsim's iterator: one second on, then forward until every field matches.
  private mutating func advance() -> Int64? {
    tick(1)
    let startYear = CivilCalendar.date(dayNumber: day).year
    while true {
      advanceMonth()
      if CivilCalendar.date(dayNumber: day).year > startYear + 50 { return nil }
      if advanceDay() { continue }
      if advanceHour() { continue }
      if advanceMinute() { continue }
      if advanceSecond() { continue }
      break
    }
    guard wallClock else { return zone.utc(local: local, fold: fold) }
    var resolution = zone.resolve(local)
    while resolution.kind == .skipped {
      local += 60
      resolution = zone.resolve(local)
    }
    return resolution.fold0
  }

  // MARK: The cursor

  private var day: Int64 { CivilCalendar.floorDiv(local, CivilCalendar.secondsPerDay) }
  private var secondOfDay: Int64 { CivilCalendar.floorMod(local, CivilCalendar.secondsPerDay) }

  /// Moves the cursor `seconds` on: in wall-clock time, or as an instant.
  private mutating func tick(_ seconds: Int64) {
    if wallClock {
      local += seconds
    } else {
      (local, fold) = zone.local(at: zone.utc(local: local, fold: fold) + seconds)
    }
  }

  /// Sets the cursor to midnight of day number `day` (fold cleared, as `datetime.combine`).
  private mutating func setMidnight(_ day: Int64) {
    local = day * CivilCalendar.secondsPerDay
    fold = false
  }

  // MARK: Fields, largest first

  private mutating func advanceMonth() {
    let date = CivilCalendar.date(dayNumber: day)
    if matcher.months & (1 << date.month) != 0 { return }
    var (year, month) = (date.year, date.month)
    repeat {
      month += 1
      if month > 12 { (year, month) = (year + 1, 1) }
    } while matcher.months & (1 << month) == 0
    setMidnight(CivilCalendar.dayNumber(year: year, month: month, day: 1))
  }

  private mutating func advanceDay() -> Bool {
    var needle = day
    var date = CivilCalendar.date(dayNumber: needle)
    var weekday = CivilCalendar.weekday(dayNumber: needle)
    if matches(date, weekday) { return false }
    repeat {
      needle += 1
      weekday = weekday == 6 ? 0 : weekday + 1
      date.day += 1
      if date.day > CivilCalendar.daysInMonth(year: date.year, month: date.month) {
        break  // a new month: let the month field look at it first
      }
    } while !matches(date, weekday)
    setMidnight(needle)
    return true
  }

  private func matches(_ date: (year: Int64, month: Int, day: Int), _ weekday: Int) -> Bool {
    matcher.matchesDay(year: date.year, month: date.month, day: date.day, weekday: weekday)
  }

  private mutating func advanceHour() -> Bool {
    if matcher.hours & (1 << (secondOfDay / 3600)) != 0 { return false }
    local -= secondOfDay % 3600
    stepUntilMatch(unit: 3600, ring: 24, bits: matcher.hours)
    return true
  }

  private mutating func advanceMinute() -> Bool {
    let minute = secondOfDay / 60 % 60
    if matcher.minutes & (1 << minute) != 0 { return false }
    local -= secondOfDay % 60
    if let single = matcher.singleMinute {
      tick(CivilCalendar.floorMod(Int64(single) - minute, 60) * 60)
    }
    stepUntilMatch(unit: 60, ring: 60, bits: matcher.minutes)
    return true
  }

  private mutating func advanceSecond() -> Bool {
    let second = secondOfDay % 60
    if matcher.seconds & (1 << second) != 0 { return false }
    if let single = matcher.singleSecond {
      tick(CivilCalendar.floorMod(Int64(single) - second, 60))
    }
    stepUntilMatch(unit: 1, ring: 60, bits: matcher.seconds)
    return true
  }

  /// cronsim's inner loop: while the field (`secondOfDay / unit % ring`) is not in `bits`, tick
  /// one unit, stopping early when the field wraps to 0. Runs of ticks that stay within one
  /// UTC offset are taken in one jump to the next set bit.
  private mutating func stepUntilMatch(unit: Int64, ring: Int64, bits: UInt64) {
    func field(_ local: Int64) -> Int64 {
      CivilCalendar.floorMod(local, CivilCalendar.secondsPerDay) / unit % ring
    }
    func distance(from value: Int64) -> Int64 {
      let above = bits & ~((2 << value) - 1) & ((1 << ring) - 1)
      return (above == 0 ? ring : Int64(above.trailingZeroBitCount)) - value
    }
    while bits & (1 << field(local)) == 0 {
      if wallClock {
        local += distance(from: field(local)) * unit
        return
      }
      let instant = zone.utc(local: local, fold: fold)
      let normalized = zone.local(at: instant).local
      let target = instant + distance(from: field(normalized)) * unit
      if target < zone.linearUntil(instant) {
        (local, fold) = zone.local(at: target)
        return
      }
      tick(unit)  // the offset changes on the way: one literal step
      if field(local) == 0 { return }
    }
  }
}
