package bot

// MaxTitle is the longest title, in characters, that a person may give
// something the bot shows as a message's title (an incident's): every
// transport shows a title that long whole. Slack's header block holds
// 150; the console has no limit.
const MaxTitle = 150
