// Package portfolio is the in-memory engine of real-time balances across
// accounts and wallets: a price book fed by ticks that values every asset
// (directly, by stablecoin peg or through a cross route), holdings per
// account × wallet × asset, incremental totals and breakdowns, collateral
// ratios with versioned changes, and the allocation check run before every
// order.
//
// It owns no persistence, no HTTP and no venue I/O: callers feed it markets,
// ticks and balances, read Total, Groups and Snapshot, subscribe to coalesced
// change notifications, and persist the CollateralVersion records it
// produces.
//
// # Valuation rule
//
// Every asset is valued in one valuation currency (Config.Currency, default
// USDT). The route of an asset is the shortest chain of legs from the asset to
// the currency whose every market leg has received a price:
//
//   - the currency itself is worth 1 (empty route);
//   - a direct market ASSET/CUR (price) or CUR/ASSET (1 ÷ price);
//   - a peg leg "A=B" worth exactly 1 between two pegged stablecoins
//     (Config.Pegged, default USDT, USDC, FDUSD, plus "USD" itself). A peg is
//     used only when no priced market joins the two directly: a quote always
//     says otherwise. So with currency "USD", USDT is worth 1 unless a
//     USDT/USD market has a price, and BTC is valued as BTC/USDT × USDT=USD;
//   - a cross route of up to three legs whose intermediate assets are bridges
//     (Config.Bridges, default BTC, ETH, BNB) or pegged stablecoins, e.g.
//     ["XRP/BTC", "BTC/USDT"].
//
// Ties between routes of equal length prefer fewer peg legs, then the order of
// Config.Bridges followed by Config.Pegged, then a non-inverted market, then
// the market name. A route's age is the age of its oldest market leg; a price
// older than Config.StaleAfter is flagged stale but still used, and any total
// that includes it says so. An asset without a priced route is unpriced with a
// reason: it is never valued at 0 and never dropped, and every total that
// holds it is flagged partial.
//
// # Quantities
//
// The quantity of a holding line is free + locked − borrowed. Its value is
// quantity × price. Its collateral value is quantity × price × ratio when the
// quantity is positive; a negative quantity (a debt) counts at full value,
// undiscounted.
//
// # Costs
//
// The engine keeps, per asset, the aggregated quantity and the aggregated
// collateral-weighted quantity over every line, and per market the assets
// whose route uses it. A tick therefore costs O(assets routed through the
// market): each such asset is revalued with two multiplications and the grand
// totals are adjusted by the difference, independent of the number of
// accounts.
//
// The same aggregates are kept per group (an account, a venue, a wallet kind,
// a tag: one cell per group and asset it holds), so the totals by group are
// incremental too. A tick queues the assets it revalued; the next read of
// group totals (Groups, GroupsSince) first revalues the cells of the queued
// assets, exactly the groups that hold them (O(groups holding the asset), two
// multiplications each, once per read however many ticks came in between),
// then builds the rows in O(groups), plus the groups that hold an unpriced or
// stale asset or a wallet whose query failed. GroupsSince lists only the
// groups whose totals or flags changed since a cursor, for streaming. A
// balance change costs O(groups of its line): account, venue, wallet kind and
// the account's tags. A change of an account's venue or tags moves its lines,
// O(lines of the account).
//
// Snapshot still computes the full breakdown with every line from scratch in
// O(lines); AccountTotal costs O(lines of the account). Route selection runs
// only when the market topology changes (markets registered, a market's first
// price).
package portfolio
