// A JDBC Connection that does nothing: the peer driver measures HikariCP's own overhead, not a database's.
//
// HikariCP's benchmark suite drives the pool with a stub driver the same way (StubDriver / StubConnection):
// every call the pool makes on its delegate returns at once. A concrete class rather than a
// java.lang.reflect.Proxy, because HikariCP calls clearWarnings() on the delegate at every close(); through a
// Proxy that call would cost a reflective dispatch that the pool itself does not cost.
//
// Statements are outside the workload (borrow, hold, return), so creating one fails loudly instead of
// returning a half-made stub.
//
// Thread-safety: HikariCP hands one connection to one thread at a time; its housekeeping threads may close it
// or query it, so the few fields are volatile. The borrow/return path touches none of them.
package berth.peers.hikaricp;

import java.sql.Array;
import java.sql.Blob;
import java.sql.CallableStatement;
import java.sql.Clob;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.NClob;
import java.sql.PreparedStatement;
import java.sql.SQLClientInfoException;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLWarning;
import java.sql.SQLXML;
import java.sql.Savepoint;
import java.sql.Statement;
import java.sql.Struct;
import java.util.Collections;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Executor;

final class StubConnection implements Connection {
    private volatile boolean closed;
    private volatile boolean autoCommit = true;
    private volatile boolean readOnly;
    private volatile int isolation = Connection.TRANSACTION_READ_COMMITTED;
    private volatile int networkTimeoutMs;
    private volatile String catalog;
    private volatile String schema;

    private static SQLException unsupported(String what) {
        return new SQLFeatureNotSupportedException("StubConnection: " + what + " is outside the benchmark");
    }

    // Lifecycle and validation: the calls HikariCP makes.
    @Override public void close() { closed = true; }
    @Override public boolean isClosed() { return closed; }
    @Override public boolean isValid(int timeoutSeconds) { return !closed; }
    @Override public void abort(Executor executor) { closed = true; }
    @Override public void clearWarnings() {}
    @Override public SQLWarning getWarnings() { return null; }
    @Override public void setNetworkTimeout(Executor executor, int milliseconds) { networkTimeoutMs = milliseconds; }
    @Override public int getNetworkTimeout() { return networkTimeoutMs; }

    // Connection state HikariCP reads at setup and resets when a borrower changed it.
    @Override public void setAutoCommit(boolean value) { autoCommit = value; }
    @Override public boolean getAutoCommit() { return autoCommit; }
    @Override public void commit() {}
    @Override public void rollback() {}
    @Override public void rollback(Savepoint savepoint) {}
    @Override public void setReadOnly(boolean value) { readOnly = value; }
    @Override public boolean isReadOnly() { return readOnly; }
    @Override public void setCatalog(String value) { catalog = value; }
    @Override public String getCatalog() { return catalog; }
    @Override public void setSchema(String value) { schema = value; }
    @Override public String getSchema() { return schema; }
    @Override public void setTransactionIsolation(int level) { isolation = level; }
    @Override public int getTransactionIsolation() { return isolation; }
    @Override public void setHoldability(int holdability) {}
    @Override public int getHoldability() { return java.sql.ResultSet.HOLD_CURSORS_OVER_COMMIT; }
    @Override public Map<String, Class<?>> getTypeMap() { return Collections.emptyMap(); }
    @Override public void setTypeMap(Map<String, Class<?>> map) {}
    @Override public void setClientInfo(String name, String value) throws SQLClientInfoException {}
    @Override public void setClientInfo(Properties properties) throws SQLClientInfoException {}
    @Override public String getClientInfo(String name) { return null; }
    @Override public Properties getClientInfo() { return new Properties(); }
    @Override public String nativeSQL(String sql) { return sql; }

    // Everything that would talk to a database: outside the workload.
    @Override public DatabaseMetaData getMetaData() throws SQLException { throw unsupported("getMetaData"); }
    @Override public Statement createStatement() throws SQLException { throw unsupported("createStatement"); }
    @Override public Statement createStatement(int type, int concurrency) throws SQLException {
        throw unsupported("createStatement");
    }
    @Override public Statement createStatement(int type, int concurrency, int holdability) throws SQLException {
        throw unsupported("createStatement");
    }
    @Override public PreparedStatement prepareStatement(String sql) throws SQLException {
        throw unsupported("prepareStatement");
    }
    @Override public PreparedStatement prepareStatement(String sql, int type, int concurrency) throws SQLException {
        throw unsupported("prepareStatement");
    }
    @Override public PreparedStatement prepareStatement(String sql, int type, int concurrency, int holdability)
            throws SQLException {
        throw unsupported("prepareStatement");
    }
    @Override public PreparedStatement prepareStatement(String sql, int autoGeneratedKeys) throws SQLException {
        throw unsupported("prepareStatement");
    }
    @Override public PreparedStatement prepareStatement(String sql, int[] columnIndexes) throws SQLException {
        throw unsupported("prepareStatement");
    }
    @Override public PreparedStatement prepareStatement(String sql, String[] columnNames) throws SQLException {
        throw unsupported("prepareStatement");
    }
    @Override public CallableStatement prepareCall(String sql) throws SQLException { throw unsupported("prepareCall"); }
    @Override public CallableStatement prepareCall(String sql, int type, int concurrency) throws SQLException {
        throw unsupported("prepareCall");
    }
    @Override public CallableStatement prepareCall(String sql, int type, int concurrency, int holdability)
            throws SQLException {
        throw unsupported("prepareCall");
    }
    @Override public Savepoint setSavepoint() throws SQLException { throw unsupported("setSavepoint"); }
    @Override public Savepoint setSavepoint(String name) throws SQLException { throw unsupported("setSavepoint"); }
    @Override public void releaseSavepoint(Savepoint savepoint) throws SQLException {
        throw unsupported("releaseSavepoint");
    }
    @Override public Clob createClob() throws SQLException { throw unsupported("createClob"); }
    @Override public Blob createBlob() throws SQLException { throw unsupported("createBlob"); }
    @Override public NClob createNClob() throws SQLException { throw unsupported("createNClob"); }
    @Override public SQLXML createSQLXML() throws SQLException { throw unsupported("createSQLXML"); }
    @Override public Array createArrayOf(String typeName, Object[] elements) throws SQLException {
        throw unsupported("createArrayOf");
    }
    @Override public Struct createStruct(String typeName, Object[] attributes) throws SQLException {
        throw unsupported("createStruct");
    }

    @Override public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) return iface.cast(this);
        throw new SQLException("StubConnection does not wrap " + iface.getName());
    }
    @Override public boolean isWrapperFor(Class<?> iface) { return iface.isInstance(this); }
}
