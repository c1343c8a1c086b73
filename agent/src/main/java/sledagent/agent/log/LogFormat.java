package sledagent.agent.log;

/** How log lines are written. */
public enum LogFormat
{
    /** One bunyan JSON object per line (the default: for log collectors). */
    JSON,
    /** One readable line per record (for people). */
    TEXT
}
